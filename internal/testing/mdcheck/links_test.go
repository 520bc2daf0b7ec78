package mdcheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the repository, relative to this package.
const repoRoot = "../../.."

// pendingDocs are pages another change writes (the deployment guides): a
// link to one of them is allowed to dangle until it lands. Remove each
// entry when its file exists; the test fails on an entry whose file exists,
// so that the list cannot outlive its reason.
var pendingDocs = map[string]bool{}

// docFiles returns README.md and every Markdown file under docs/, relative
// to the repository.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(repoRoot, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, err := filepath.Rel(repoRoot, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("no Markdown files under docs/: %q", files)
	}
	return files
}

func readDoc(t *testing.T, rel string) *Doc {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return Parse(string(data))
}

// TestDocLinks: every relative link of the README and of docs/ names a
// file or directory of the repository, and a link to a heading of a
// Markdown file (#anchor) names one that exists.
func TestDocLinks(t *testing.T) {
	for _, name := range docFiles(t) {
		doc := readDoc(t, name)
		for _, l := range doc.Links() {
			target := l.Target
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			rel := name
			if file != "" {
				rel = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(name), file)))
			}
			if strings.HasPrefix(rel, "../") {
				t.Errorf("%s:%d: %s leaves the repository", name, l.Line, target)
				continue
			}
			if _, err := os.Stat(filepath.Join(repoRoot, rel)); err != nil {
				if pendingDocs[rel] && anchor == "" {
					continue
				}
				t.Errorf("%s:%d: broken link %s: %s does not exist", name, l.Line, target, rel)
				continue
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(rel, ".md") {
				t.Errorf("%s:%d: %s: an anchor into a file that is not Markdown", name, l.Line, target)
				continue
			}
			if !readDoc(t, rel).Anchors()[anchor] {
				t.Errorf("%s:%d: broken link %s: %s has no heading with anchor #%s", name, l.Line, target, rel, anchor)
			}
		}
	}
}

// TestPendingDocsArePending: an entry of pendingDocs whose file exists
// must go.
func TestPendingDocsArePending(t *testing.T) {
	for rel := range pendingDocs {
		if _, err := os.Stat(filepath.Join(repoRoot, rel)); err == nil {
			t.Errorf("%s exists: remove it from pendingDocs, so that links to it are checked", rel)
		}
	}
}

// TestReadmeLength: the README is the first page, not the manual.
func TestReadmeLength(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n > 250 {
		t.Errorf("README.md has %d lines; keep it at 250 or fewer and move the rest to docs/", n)
	}
}

// TestDocTitles: every page opens with its title, the only level-1
// heading, so that its sections are its level-2 headings.
func TestDocTitles(t *testing.T) {
	for _, name := range docFiles(t) {
		hs := readDoc(t, name).Headings()
		if len(hs) == 0 || hs[0].Level != 1 || hs[0].Line != 0 {
			t.Errorf("%s does not open with a title (# ...)", name)
			continue
		}
		for _, h := range hs[1:] {
			if h.Level == 1 {
				t.Errorf("%s:%d: a second title %q", name, h.Line+1, h.Text)
			}
		}
	}
}

// TestDocTables: every row of a table has as many cells as its header
// (a stray "|" shifts a row's cells, and GitHub then renders it wrongly).
func TestDocTables(t *testing.T) {
	for _, name := range docFiles(t) {
		d := readDoc(t, name)
		want := 0
		for i, l := range d.lines {
			switch {
			case d.fence[i] || !strings.HasPrefix(l, "|"):
				want = 0
			case i+1 < len(d.lines) && isDelimiterRow(d.lines[i+1]):
				want = len(splitRow(l))
			case isDelimiterRow(l):
			case want > 0 && len(splitRow(l)) != want:
				t.Errorf("%s:%d: %d cells in a table of %d columns", name, i+1, len(splitRow(l)), want)
			}
		}
	}
}
