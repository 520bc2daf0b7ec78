// Package suggest finds the likely intended name for a misspelt one: the
// "did you mean" of the CLI's flags and commands and of the manifest
// checks' field names. (The configuration's own suggestions are policy's,
// which also counts transpositions.)
package suggest

import "strings"

// Closest returns the candidate nearest to s when it is close enough to be
// a likely misspelling (at most 2 edits, 1 for names of four characters or
// less), or s is a prefix of it (three characters or more); else "".
func Closest(s string, candidates []string) string {
	best, bestD := "", Limit(s)
	for _, c := range candidates {
		d := Distance(s, c)
		if len(s) >= 3 && strings.HasPrefix(c, s) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Limit is the distance below which a candidate counts as a likely
// misspelling of s.
func Limit(s string) int {
	if len(s) <= 4 {
		return 2
	}
	return 3
}

// Distance is the Levenshtein distance between a and b.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
