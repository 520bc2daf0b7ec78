package main

import (
	"strings"
	"testing"

	"github.com/apiguard/apiguard/policy/keymat"
)

func TestHashReadsKeysFromStdin(t *testing.T) {
	r := apiguard(t, "first-key\n\n  agk_second \r\nthird", "hash")
	r.wantCode(t, exitOK)
	want := keymat.Hash("first-key") + "\n" + keymat.Hash("agk_second") + "\n" + keymat.Hash("third") + "\n"
	if r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	noKeys(t, []string{"first-key", "agk_second", "third"}, r.stdout, r.stderr)
}

func TestHashFailures(t *testing.T) {
	for _, in := range []string{"", "\n  \n"} { // no keys: a usage error
		r := apiguard(t, in, "hash")
		r.wantCode(t, exitError)
		if !strings.Contains(r.stderr, "no keys on stdin") {
			t.Errorf("hash with input %q: stderr %q does not say why", in, r.stderr)
		}
	}
	apiguard(t, "", "hash", "agk_onargs").wantCode(t, exitError) // keys never as arguments
}

// newKey returns a fresh well-formed key through keygen.
func newKey(t *testing.T, prefix string) string {
	t.Helper()
	r := apiguard(t, "", "keygen", "--consumer", "c", "--prefix", prefix)
	r.wantCode(t, exitOK)
	return strings.TrimSpace(r.stdout)
}

// flipLast changes the last character of key to another base62 character.
func flipLast(key string) string {
	last := key[len(key)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return key[:len(key)-1] + string(repl)
}

func TestVerifyFormat(t *testing.T) {
	key := newKey(t, "agk_")
	other := newKey(t, "xyz_")
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  string // in the output
	}{
		{"generated key", []string{key}, "", exitOK, "ok"},
		{"key on stdin", nil, key + "\n", exitOK, "ok"},
		{"key on stdin with -", []string{"-"}, key, exitOK, "ok"},
		{"other prefix given", []string{"--prefix", "xyz_", other}, "", exitOK, "ok"},
		{"checksum changed", []string{flipLast(key)}, "", exitFail, "checksum"},
		{"random part changed", []string{key[:6] + flipLast(key[:7])[6:] + key[7:]}, "", exitFail, "checksum"},
		{"wrong prefix", []string{other}, "", exitFail, `does not start with "agk_"`},
		{"truncated", []string{key[:len(key)-1]}, "", exitFail, "length"},
		{"not base62", []string{key[:10] + "-" + key[11:]}, "", exitFail, "character"},
		{"no key", nil, "", exitError, "no key"},
		{"two keys", []string{key, key}, "", exitError, "one key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := apiguard(t, tc.stdin, append([]string{"verify-format"}, tc.args...)...)
			r.wantCode(t, tc.code)
			if out := r.stdout + r.stderr; !strings.Contains(out, tc.want) {
				t.Errorf("output does not contain %q:\n%s", tc.want, out)
			}
			noKeys(t, []string{key, other, flipLast(key)}, r.stdout, r.stderr)
		})
	}
}
