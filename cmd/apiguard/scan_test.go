package main

import (
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/policy/keymat"
)

// scanKeys are the keys of the scan tests.
type scanKeys struct{ live, revoked, expired, unknown, lookAlike string }

func newScanKeys(t *testing.T) scanKeys {
	t.Helper()
	key := func(seed int64) string {
		k, err := keymat.Generate("agk_", rand.New(rand.NewSource(seed)))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k := scanKeys{live: key(1), revoked: key(2), expired: key(3), unknown: key(4)}
	// The live key with its last character changed: the right shape, a
	// wrong checksum.
	last := k.live[len(k.live)-1]
	alt := byte('A')
	if last == 'A' {
		alt = 'B'
	}
	k.lookAlike = k.live[:len(k.live)-1] + string(alt)
	if keymat.CheckFormat("agk_", k.lookAlike) == nil {
		t.Fatal("the look-alike passes the checksum")
	}
	return k
}

// scanConfig writes a configuration holding the live, revoked and expired
// keys and returns its path.
func scanConfig(t *testing.T, dir string, k scanKeys) string {
	t.Helper()
	cfg := map[string]any{
		"key_format": map[string]any{"prefix": "agk_"},
		"consumers": []any{map[string]any{"id": "billing", "keys": []any{
			map[string]any{"id": "billing-live", "sha256": keymat.Hash(k.live)},
			map[string]any{"id": "billing-old", "sha256": keymat.Hash(k.revoked), "revoked": true},
			map[string]any{"id": "billing-2020", "sha256": keymat.Hash(k.expired), "not_after": "2021-01-01T00:00:00Z"},
		}}},
	}
	b, _ := json.Marshal(cfg)
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func write(t *testing.T, path, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestScanFiles(t *testing.T) {
	k := newScanKeys(t)
	cfgDir, dir := t.TempDir(), t.TempDir()
	config := scanConfig(t, cfgDir, k)
	write(t, filepath.Join(dir, "app.env"), "# config\nAPI_KEY="+k.live+"\nOLD="+k.revoked+" EXPIRED=\""+k.expired+"\"\n")
	write(t, filepath.Join(dir, "src", "client.go"), "package x\n\nconst key = `"+k.unknown+"`\nconst nope = \""+k.lookAlike+"\"\nconst longer = \"x"+k.live+"9\"\n")
	write(t, filepath.Join(dir, "image.bin"), "\x00\x01"+k.live)
	write(t, filepath.Join(dir, ".git", "objects", "pack"), k.live)

	r := apiguard(t, "", "scan", "--config", config, dir)
	r.wantCode(t, exitFail)
	want := []string{
		filepath.Join(dir, "app.env") + ":2: key agk_…" + k.live[len(k.live)-4:] + " of consumer billing, key id billing-live: live",
		filepath.Join(dir, "app.env") + ":3: key agk_…" + k.revoked[len(k.revoked)-4:] + " of consumer billing, key id billing-old: revoked",
		filepath.Join(dir, "app.env") + ":3: key agk_…" + k.expired[len(k.expired)-4:] + " of consumer billing, key id billing-2020: expired",
		filepath.Join(dir, "src", "client.go") + ":3: key agk_…" + k.unknown[len(k.unknown)-4:] + ": unknown",
	}
	if got := strings.Split(strings.TrimSpace(r.stdout), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", r.stdout, strings.Join(want, "\n"))
	}
	noKeys(t, []string{k.live, k.revoked, k.expired, k.unknown}, r.stdout, r.stderr)

	// Without the live key: exit 0, the others still listed.
	os.Remove(filepath.Join(dir, "app.env"))
	r = apiguard(t, "", "scan", "--config", config, dir)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, ": unknown") {
		t.Errorf("stdout %q", r.stdout)
	}
	// Without a configuration every key is unknown.
	r = apiguard(t, "", "scan", filepath.Join(dir, "src"))
	r.wantCode(t, exitOK)
	if n := strings.Count(r.stdout, "\n"); n != 1 {
		t.Errorf("%d findings without --config:\n%s", n, r.stdout)
	}
}

func TestScanStdinAndFormats(t *testing.T) {
	k := newScanKeys(t)
	config := scanConfig(t, t.TempDir(), k)
	input := "token: " + k.live + "\nother: " + k.lookAlike + "\nold: " + k.revoked + "\n"

	r := apiguard(t, input, "scan", "--config", config, "-")
	r.wantCode(t, exitFail)
	if r.stdout != "-:1: key agk_…"+k.live[len(k.live)-4:]+" of consumer billing, key id billing-live: live\n"+
		"-:3: key agk_…"+k.revoked[len(k.revoked)-4:]+" of consumer billing, key id billing-old: revoked\n" {
		t.Errorf("text:\n%s", r.stdout)
	}

	r = apiguard(t, input, "scan", "--config", config, "--format", "json", "-")
	r.wantCode(t, exitFail)
	var fs []finding
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if len(fs) != 2 || fs[0].Status != "live" || fs[0].Line != 1 || fs[0].Column != 8 || fs[0].KeyID != "billing-live" || fs[1].Status != "revoked" {
		t.Errorf("json findings %+v", fs)
	}

	r = apiguard(t, input, "scan", "--config", config, "--format", "sarif", "-")
	r.wantCode(t, exitFail)
	checkSARIF(t, r.stdout, []string{"error", "warning"})
	noKeys(t, []string{k.live, k.revoked}, r.stdout)

	r = apiguard(t, "", "scan", "--format", "xml", "-")
	r.wantCode(t, exitError)
	r = apiguard(t, "", "scan")
	r.wantCode(t, exitError)
	r = apiguard(t, "", "scan", "--key-snapshot", "x", "-")
	r.wantCode(t, exitError)
}

// checkSARIF checks what GitHub code scanning requires of an upload
// (docs.github.com "SARIF support for code scanning", SARIF 2.1.0): version,
// a run with the tool's driver name and rules, and per result a ruleId that
// names a rule, a message, a level, a location with a relative URI and a
// start line, and partialFingerprints.
func checkSARIF(t *testing.T, out string, levels []string) {
	t.Helper()
	var doc struct {
		Schema  string `json:"$schema"`
		Version string
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string
					Rules []struct {
						ID               string
						ShortDescription struct{ Text string }
						Properties       map[string]any
					}
				}
			}
			Results []struct {
				RuleID    string
				Level     string
				Message   struct{ Text string }
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine, StartColumn int }
					}
				}
				PartialFingerprints map[string]string
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("sarif: %v\n%s", err, out)
	}
	if doc.Version != "2.1.0" || doc.Schema == "" || len(doc.Runs) != 1 {
		t.Fatalf("sarif header: %+v", doc)
	}
	run := doc.Runs[0]
	if run.Tool.Driver.Name == "" || len(run.Tool.Driver.Rules) != 1 || run.Tool.Driver.Rules[0].ShortDescription.Text == "" ||
		run.Tool.Driver.Rules[0].Properties["security-severity"] == nil {
		t.Errorf("sarif driver: %+v", run.Tool.Driver)
	}
	if len(run.Results) != len(levels) {
		t.Fatalf("%d results, want %d", len(run.Results), len(levels))
	}
	for i, res := range run.Results {
		loc := res.Locations
		if res.RuleID != run.Tool.Driver.Rules[0].ID || res.Level != levels[i] || res.Message.Text == "" || len(loc) != 1 ||
			loc[0].PhysicalLocation.ArtifactLocation.URI == "" || strings.HasPrefix(loc[0].PhysicalLocation.ArtifactLocation.URI, "/") ||
			loc[0].PhysicalLocation.Region.StartLine < 1 || len(res.PartialFingerprints) == 0 {
			t.Errorf("sarif result %d: %+v", i, res)
		}
	}
}

func TestScanGitHistory(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	k := newScanKeys(t)
	config := scanConfig(t, t.TempDir(), k)
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	write(t, filepath.Join(dir, "README"), "hello\n")
	write(t, filepath.Join(dir, "deploy", "values.yaml"), "a: 1\napiKey: "+k.live+"\n")
	git("add", ".")
	git("commit", "-q", "-m", "add values")
	write(t, filepath.Join(dir, "deploy", "values.yaml"), "a: 1\napiKey: ${API_KEY}\n")
	git("commit", "-q", "-am", "remove the key")

	r := apiguard(t, "", "scan", "--config", config, dir)
	r.wantCode(t, exitOK)
	if r.stdout != "" {
		t.Errorf("the work tree has no key, found:\n%s", r.stdout)
	}
	r = apiguard(t, "", "scan", "--config", config, "--git", dir)
	r.wantCode(t, exitFail)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 1 || !strings.HasSuffix(lines[0], ":"+filepath.Join(dir, "deploy", "values.yaml")+":2: key agk_…"+k.live[len(k.live)-4:]+" of consumer billing, key id billing-live: live") {
		t.Errorf("history findings:\n%s", r.stdout)
	}
	r = apiguard(t, "", "scan", "--config", config, "--git", "--format", "sarif", dir)
	r.wantCode(t, exitFail)
	checkSARIF(t, r.stdout, []string{"error"})
}
