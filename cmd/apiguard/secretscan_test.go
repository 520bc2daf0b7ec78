package main

import (
	"math/rand"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/policy/keymat"
)

// secretPatterns reads the patterns of deploy/secret-scanning: the gitleaks
// rule's regex and the GitHub custom pattern (before, secret, after), both
// Go/RE2 syntax as gitleaks uses and within Hyperscan's as GitHub uses.
// gitleaks itself is not installed here (not in the registries this
// project may use): the test runs the regexes with Go's regexp, which is
// the engine gitleaks uses.
func secretPatterns(t *testing.T) map[string]*regexp.Regexp {
	t.Helper()
	gl, err := os.ReadFile(repoFile(t, "deploy/secret-scanning/gitleaks.toml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^regex = '''(.*)'''$`).FindSubmatch(gl)
	if m == nil {
		t.Fatal("no regex in gitleaks.toml")
	}
	gh, err := os.ReadFile(repoFile(t, "deploy/secret-scanning/github-custom-pattern.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) string {
		f := regexp.MustCompile(`(?m)^` + name + `: '(.*)'$`).FindSubmatch(gh)
		if f == nil {
			t.Fatalf("no %s in github-custom-pattern.yaml", name)
		}
		return string(f[1])
	}
	return map[string]*regexp.Regexp{
		"gitleaks": regexp.MustCompile(string(m[1])),
		"github":   regexp.MustCompile(`(?:` + field("before_secret") + `)(` + field("secret_format") + `)(?:` + field("after_secret") + `)`),
		"scan":     keyPattern("agk_"),
	}
}

func TestSecretScanningPatterns(t *testing.T) {
	pats := secretPatterns(t)
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < 200; i++ {
		key, err := keymat.Generate("agk_", rng)
		if err != nil {
			t.Fatal(err)
		}
		for _, ctx := range []string{key, "API_KEY=" + key, `"` + key + `"`, "x-api-key: " + key + "\n", "`" + key + "`,"} {
			for name, re := range pats {
				m := re.FindStringSubmatch(ctx)
				if m == nil || m[1] != key {
					t.Fatalf("%s misses a keygen key in %q: %q", name, ctx, m)
				}
			}
		}
	}
	key, _ := keymat.Generate("agk_", rng)
	for _, s := range []string{
		key[:len(key)-1],                   // one character short
		key + "Z",                          // one too many
		"x" + key,                          // inside a word
		key[:10] + "-" + key[11:],          // a character outside base62
		"agc_" + key[4:],                   // another prefix
		strings.ToUpper(key[:4]) + key[4:], // AGK_
	} {
		for name, re := range pats {
			if m := re.FindStringSubmatch(s); m != nil {
				t.Errorf("%s matches %q (%q)", name, s, m[1])
			}
		}
	}
	// A look-alike of the right shape whose checksum fails: the patterns
	// cannot tell (they match it), apiguard scan drops it.
	alike := key[:len(key)-6] + "000000"
	if keymat.CheckFormat("agk_", alike) == nil {
		t.Skip("the look-alike happens to pass the checksum")
	}
	for name, re := range pats {
		if re.FindStringSubmatch(alike) == nil {
			t.Errorf("%s does not match the look-alike %q: the shape is the same", name, alike)
		}
	}
	r := apiguard(t, "k = "+alike+"\nk2 = "+key+"\n", "scan", "-")
	r.wantCode(t, exitOK)
	if r.stdout != "-:2: key agk_…"+key[len(key)-4:]+": unknown\n" {
		t.Errorf("scan of a key and its look-alike:\n%s", r.stdout)
	}
}
