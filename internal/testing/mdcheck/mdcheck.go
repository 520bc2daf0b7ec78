// Package mdcheck reads the parts of the project's Markdown documentation
// that tests compare with the code: sections, table rows, code spans,
// links and the anchors GitHub gives headings. It understands the subset of
// Markdown the docs use (ATX headings, fenced code blocks, pipe tables,
// inline links), not CommonMark in full.
package mdcheck

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// A Doc is one Markdown file, split into lines.
type Doc struct {
	lines []string
	fence []bool // lines[i] is inside a fenced code block (fences included)
}

// Parse splits text into lines and notes which are code.
func Parse(text string) *Doc {
	d := &Doc{lines: strings.Split(text, "\n")}
	d.fence = make([]bool, len(d.lines))
	in := false
	for i, l := range d.lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			d.fence[i] = true
			in = !in
			continue
		}
		d.fence[i] = in
	}
	return d
}

// A Heading is an ATX heading outside code.
type Heading struct {
	Level int
	Text  string // without the #s
	Line  int    // 0-based
}

// Headings returns the document's headings in order.
func (d *Doc) Headings() []Heading {
	var hs []Heading
	for i, l := range d.lines {
		if d.fence[i] || !strings.HasPrefix(l, "#") {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "#"))
		if n > 6 || len(l) == n || l[n] != ' ' {
			continue
		}
		hs = append(hs, Heading{Level: n, Text: strings.TrimSpace(l[n:]), Line: i})
	}
	return hs
}

// Section returns the lines under the first heading whose text is title,
// up to the next heading of the same or a higher level, and whether it was
// found.
func (d *Doc) Section(title string) (*Doc, bool) {
	hs := d.Headings()
	for i, h := range hs {
		if h.Text != title {
			continue
		}
		end := len(d.lines)
		for _, next := range hs[i+1:] {
			if next.Level <= h.Level {
				end = next.Line
				break
			}
		}
		return &Doc{lines: d.lines[h.Line+1 : end], fence: d.fence[h.Line+1 : end]}, true
	}
	return nil, false
}

// TableRows returns the cells of every body row of every pipe table
// outside code: header rows and delimiter rows are left out. Escaped pipes
// (\|) stay inside their cell, unescaped.
func (d *Doc) TableRows() [][]string {
	var rows [][]string
	for i, l := range d.lines {
		if d.fence[i] || !strings.HasPrefix(l, "|") {
			continue
		}
		if i+1 < len(d.lines) && isDelimiterRow(d.lines[i+1]) {
			continue // the header row
		}
		if isDelimiterRow(l) {
			continue
		}
		rows = append(rows, splitRow(l))
	}
	return rows
}

var delimiterRow = regexp.MustCompile(`^\|(\s*:?-+:?\s*\|)+\s*$`)

func isDelimiterRow(l string) bool { return delimiterRow.MatchString(l) }

func splitRow(l string) []string {
	l = strings.TrimSpace(l)
	l = strings.TrimPrefix(l, "|")
	l = strings.TrimSuffix(l, "|")
	var cells []string
	var b strings.Builder
	for i := 0; i < len(l); i++ {
		switch {
		case l[i] == '\\' && i+1 < len(l) && l[i+1] == '|':
			b.WriteByte('|')
			i++
		case l[i] == '|':
			cells = append(cells, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(l[i])
		}
	}
	return append(cells, strings.TrimSpace(b.String()))
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// CodeSpans returns the contents of the code spans in s.
func CodeSpans(s string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// A Link is an inline link [text](target) outside code.
type Link struct {
	Target string
	Line   int // 1-based
}

var inlineLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// Links returns the targets of the document's inline links, leaving out
// those inside fenced code blocks and code spans.
func (d *Doc) Links() []Link {
	var out []Link
	for i, l := range d.lines {
		if d.fence[i] {
			continue
		}
		l = codeSpan.ReplaceAllString(l, "``")
		for _, m := range inlineLink.FindAllStringSubmatch(l, -1) {
			out = append(out, Link{Target: m[1], Line: i + 1})
		}
	}
	return out
}

// Anchors returns the anchors GitHub gives the document's headings: the
// text lower-cased, code marks and punctuation other than '-' and '_'
// dropped, spaces made '-', and "-N" appended to the Nth repeat.
func (d *Doc) Anchors() map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	for _, h := range d.Headings() {
		a := Slug(h.Text)
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// Slug is GitHub's anchor for a heading text.
func Slug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
