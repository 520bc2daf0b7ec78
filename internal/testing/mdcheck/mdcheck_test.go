package mdcheck

import (
	"reflect"
	"testing"
)

func TestSlug(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Failure modes: FAIL_CLOSED, FAIL_RELOAD, and a worker that fails open", "failure-modes-fail_closed-fail_reload-and-a-worker-that-fails-open"},
		{"`apiguard keys build`", "apiguard-keys-build"},
		{"What a `pluginConfig` change does", "what-a-pluginconfig-change-does"},
		{"Local buckets, quotas, or both", "local-buckets-quotas-or-both"},
		{"Envoy 1.33 – 1.38", "envoy-133--138"},
	} {
		if got := Slug(tt.in); got != tt.want {
			t.Errorf("Slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

const sample = "# Title\n\nText [a](b.md#c) and `[not](a link)`.\n\n## Part\n\n" +
	"| f | m |\n|---|---|\n| `x.y`, `z` | one \\| two |\n\n```\n## not a heading\n[no](link)\n| no | row |\n```\n\n" +
	"### Sub\n\nsub text\n\n## Part\n\n[last](#part-1)\n"

func TestParse(t *testing.T) {
	d := Parse(sample)
	var titles []string
	for _, h := range d.Headings() {
		titles = append(titles, h.Text)
	}
	if want := []string{"Title", "Part", "Sub", "Part"}; !reflect.DeepEqual(titles, want) {
		t.Errorf("headings %q, want %q", titles, want)
	}
	if a := d.Anchors(); !a["part"] || !a["part-1"] || !a["sub"] || a["not-a-heading"] {
		t.Errorf("anchors %v", a)
	}
	links := d.Links()
	if len(links) != 2 || links[0].Target != "b.md#c" || links[0].Line != 3 || links[1].Target != "#part-1" {
		t.Errorf("links %+v", links)
	}
	part, ok := d.Section("Part")
	if !ok {
		t.Fatal("no section Part")
	}
	rows := part.TableRows()
	if want := [][]string{{"`x.y`, `z`", "one | two"}}; !reflect.DeepEqual(rows, want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
	if spans := CodeSpans(rows[0][0]); !reflect.DeepEqual(spans, []string{"x.y", "z"}) {
		t.Errorf("code spans %q", spans)
	}
	if _, ok := part.Section("Sub"); !ok {
		t.Error("the section Part does not hold its subsection")
	}
	if _, ok := d.Section("Missing"); ok {
		t.Error("found a section that does not exist")
	}
}
