package replay

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Keys maps key ids to raw keys, for resolving "{{key:ID}}" placeholders in
// recorded traffic. A Keys value is held in memory only: nothing in this
// package prints or writes a raw key.
type Keys struct {
	byID map[string]string
}

// LoadKeys reads a keys file: one "ID<TAB>KEY" (or "ID KEY") pair per line;
// blank lines and lines starting with '#' are ignored. Errors name the line,
// never its key.
func LoadKeys(r io.Reader) (Keys, error) {
	k := Keys{byID: make(map[string]string)}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return Keys{}, fmt.Errorf("line %d: want \"ID<TAB>KEY\", got %d fields", n, len(fields))
		}
		id, key := fields[0], fields[1]
		if strings.ContainsAny(id, "{}") {
			return Keys{}, fmt.Errorf("line %d: key id %q may not contain braces", n, id)
		}
		if _, dup := k.byID[id]; dup {
			return Keys{}, fmt.Errorf("line %d: duplicate key id %q", n, id)
		}
		k.byID[id] = key
	}
	if err := sc.Err(); err != nil {
		return Keys{}, err
	}
	return k, nil
}

// IDs returns the key ids, sorted.
func (k Keys) IDs() []string {
	ids := make([]string, 0, len(k.byID))
	for id := range k.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

const (
	placeholderOpen  = "{{key:"
	placeholderClose = "}}"
)

// Placeholder returns the placeholder that stands for the key with id.
func Placeholder(id string) string { return placeholderOpen + id + placeholderClose }

// resolve replaces every "{{key:ID}}" in s with the key of that id.
func (k Keys) resolve(s string) (string, error) {
	if !strings.Contains(s, placeholderOpen) {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, placeholderOpen)
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		rest := s[i+len(placeholderOpen):]
		j := strings.Index(rest, placeholderClose)
		if j < 0 {
			return "", fmt.Errorf("unterminated placeholder %q", s[i:])
		}
		id := rest[:j]
		key, ok := k.byID[id]
		if !ok {
			if len(k.byID) == 0 {
				return "", fmt.Errorf("placeholder %s needs a keys file (--keys)", Placeholder(id))
			}
			return "", fmt.Errorf("placeholder %s: no key %q in the keys file (it has %s)",
				Placeholder(id), id, strings.Join(k.IDs(), ", "))
		}
		b.WriteString(s[:i])
		b.WriteString(key)
		s = rest[j+len(placeholderClose):]
	}
}

// redact replaces every known key in s by its placeholder.
func (k Keys) redact(s string) string {
	for id, key := range k.byID {
		if key != "" && strings.Contains(s, key) {
			s = strings.ReplaceAll(s, key, Placeholder(id))
		}
	}
	return s
}
