package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keymat"
)

var scanCmd = &command{
	name:     "scan",
	synopsis: "scan [--config FILE [--key-snapshot FILE]] [--prefix agk_] [--format text|json|sarif] [--git] PATH...",
	summary:  "find leaked apiguard keys in files, directories, standard input or git history",
	help: `
Scan walks each PATH (a file, a directory, or - for standard input),
skipping binary files and .git directories, and finds strings in apiguard's
key format: the prefix (key_format.prefix of --config, else --prefix, agk_
by default), 32 random and 6 checksum base62 characters. Only strings whose
checksum holds are reported, so look-alikes almost never are.

Each finding is printed as

  FILE:LINE: key agk_…WXYZ of consumer C, key id K: live|not_yet_valid|revoked|expired|unknown

never with the whole key. The status comes from --config (inline keys) or
--config with --key-snapshot (a key store's keys); without them every key
is unknown. With --git, each PATH that is a git work tree also has its whole
history searched (every commit of every ref, lines added), reported as
COMMIT:FILE:LINE.

--format json prints one JSON array; --format sarif prints SARIF 2.1.0 for
GitHub code scanning (upload with github/codeql-action/upload-sarif).

Exit status: 1 when a live (or not yet valid) key is found, 0 otherwise,
2 on usage errors.
`,
	run: runScan,
}

// finding is one key found.
type finding struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Commit   string `json:"commit,omitempty"`
	Key      string `json:"key"` // redacted: prefix…last 4
	Consumer string `json:"consumer,omitempty"`
	KeyID    string `json:"key_id,omitempty"`
	Status   string `json:"status"`
	// hash is the SHA-256 of the key, for SARIF fingerprints; repoPath is
	// the file's path in its repository, for a finding in git history.
	hash, repoPath string
}

// scanner finds keys and judges them.
type scanner struct {
	re       *regexp.Regexp
	prefix   string
	pol      *policy.Policy
	now      time.Time
	findings []finding
}

func runScan(c *command, e *env, args []string) int {
	fs := c.newFlagSet()
	config := fs.String("config", "", "the plugin configuration: its key_format.prefix and its keys give each key's status")
	snapshot := fs.String("key-snapshot", "", "with --config of a key_store, the key snapshot holding the keys")
	prefix := fs.String("prefix", "agk_", "the key prefix when --config is not given")
	format := fs.String("format", "text", "output format: text, json or sarif")
	git := fs.Bool("git", false, "also search the history of each PATH that is a git work tree")
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	if fs.NArg() == 0 {
		return c.usageError(e, "scan needs at least one PATH (- for standard input)")
	}
	switch *format {
	case "text", "json", "sarif":
	default:
		return c.usageError(e, "--format: want text, json or sarif, got "+strconv.Quote(*format))
	}
	if *snapshot != "" && *config == "" {
		return c.usageError(e, "--key-snapshot needs --config")
	}
	s := &scanner{prefix: *prefix, now: time.Now()}
	if *config != "" {
		data, err := readInput(e, *config)
		if err != nil {
			return c.errorf(e, "%v", err)
		}
		if s.pol, err = policy.Compile(data); err != nil {
			fmt.Fprintf(e.stderr, "apiguard scan: %s is not a valid configuration:\n%v\n", *config, err)
			return exitError
		}
		if p := s.pol.KeyPrefix(); p != "" {
			s.prefix = p
		}
		if *snapshot != "" {
			snap, err := os.ReadFile(*snapshot)
			if err != nil {
				return c.errorf(e, "%v", err)
			}
			if s.pol, err = s.pol.LoadSnapshot(snap); err != nil {
				fmt.Fprintf(e.stderr, "apiguard scan: %s does not load against %s: %v\n", *snapshot, *config, err)
				return exitError
			}
		} else if s.pol.KeyStore() != nil {
			fmt.Fprintf(e.stderr, "apiguard scan: %s has a key_store: give its snapshot with --key-snapshot, or every key is unknown\n", *config)
		}
	}
	if s.prefix == "" || strings.ContainsAny(s.prefix, " \t\r\n") {
		return c.usageError(e, "--prefix: must be a non-empty key prefix")
	}
	s.re = keyPattern(s.prefix)
	for _, path := range fs.Args() {
		if err := s.scanPath(e, path, *git); err != nil {
			return c.errorf(e, "%v", err)
		}
	}
	var err error
	switch *format {
	case "json":
		err = writeJSONFindings(e.stdout, s.findings)
	case "sarif":
		err = writeSARIF(e.stdout, s.findings)
	default:
		for _, f := range s.findings {
			fmt.Fprintln(e.stdout, f.text())
		}
	}
	if err != nil {
		return c.errorf(e, "%v", err)
	}
	for _, f := range s.findings {
		if f.Status == "live" || f.Status == "not_yet_valid" {
			return exitFail
		}
	}
	return exitOK
}

// keyPattern matches a key with prefix: the prefix, then exactly the 38
// base62 characters of the random part and checksum, not inside a longer
// run of word characters. The same pattern as deploy/secret-scanning.
func keyPattern(prefix string) *regexp.Regexp {
	return regexp.MustCompile(`(?:^|[^0-9A-Za-z_])(` + regexp.QuoteMeta(prefix) + `[0-9A-Za-z]{` +
		strconv.Itoa(keymat.Length) + `})(?:$|[^0-9A-Za-z_])`)
}

func (f finding) text() string {
	loc := f.File + ":" + strconv.Itoa(f.Line)
	if f.Commit != "" {
		loc = f.Commit[:min(12, len(f.Commit))] + ":" + loc
	}
	if f.Consumer == "" {
		return loc + ": key " + f.Key + ": " + f.Status
	}
	return loc + ": key " + f.Key + " of consumer " + f.Consumer + ", key id " + f.KeyID + ": " + f.Status
}

// scanPath scans a file, a directory tree or standard input, and with git
// a work tree's history.
func (s *scanner) scanPath(e *env, path string, git bool) error {
	if path == "-" {
		return s.scanReader("-", "", e.stdin)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return s.scanFile(path)
	}
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return s.scanFile(p)
	})
	if err != nil || !git {
		return err
	}
	return s.scanHistory(path)
}

func (s *scanner) scanFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.scanReader(path, "", f)
}

// scanReader scans text line by line; a file with a NUL byte in its first
// 8000 bytes (as git decides) is binary and skipped.
func (s *scanner) scanReader(name, commit string, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(8000)
	if bytes.IndexByte(head, 0) >= 0 {
		return nil
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		s.scanLine(name, commit, line, sc.Text())
	}
	return sc.Err()
}

// scanLine reports the keys of one line whose checksum holds.
func (s *scanner) scanLine(name, commit string, line int, text string) {
	s.scanLineIn(name, "", commit, line, text)
}

// scanLineIn is scanLine for a file whose path in its repository is
// repoPath ("" outside git history).
func (s *scanner) scanLineIn(name, repoPath, commit string, line int, text string) {
	if !strings.Contains(text, s.prefix) {
		return
	}
	for _, m := range s.re.FindAllStringSubmatchIndex(text, -1) {
		key := text[m[2]:m[3]]
		if keymat.CheckFormat(s.prefix, key) != nil {
			continue // a look-alike: the checksum does not hold
		}
		sum := sha256.Sum256([]byte(key))
		f := finding{File: name, Line: line, Column: m[2] + 1, Commit: commit, Key: redact(s.prefix, key),
			Status: "unknown", hash: hex.EncodeToString(sum[:]), repoPath: repoPath}
		if s.pol != nil {
			cons, id, r := s.pol.LookupKey(key, s.now)
			f.Consumer, f.KeyID = cons, id
			switch r {
			case policy.ReasonAllowed:
				f.Status = "live"
			case policy.ReasonRevoked, policy.ReasonExpired, policy.ReasonNotYetValid:
				f.Status = string(r)
			}
		}
		s.findings = append(s.findings, f)
	}
}

// redact returns prefix…last 4 characters of key.
func redact(prefix, key string) string { return prefix + "…" + key[len(key)-4:] }

// scanHistory searches every commit reachable from any ref of the work tree
// at dir: the lines each commit added (git log -p), file by file.
func (s *scanner) scanHistory(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		return nil // not the top of a work tree
	}
	cmd := exec.Command("git", "-C", dir, "log", "--all", "-p", "--no-color", "--no-ext-diff", "--unified=0",
		"--format=commit %H", "--no-renames")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git log: %w", err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var commit, file string
	line := 0
	for sc.Scan() {
		t := sc.Text()
		switch {
		case strings.HasPrefix(t, "commit "):
			commit, file = strings.TrimPrefix(t, "commit "), ""
		case strings.HasPrefix(t, "+++ "):
			file = strings.TrimPrefix(strings.TrimPrefix(t, "+++ "), "b/")
		case strings.HasPrefix(t, "@@ "):
			// @@ -a,b +c,d @@: added lines start at c.
			if i := strings.Index(t, " +"); i >= 0 {
				f := strings.FieldsFunc(t[i+2:], func(r rune) bool { return r == ',' || r == ' ' })
				if len(f) > 0 {
					line, _ = strconv.Atoi(f[0])
				}
			}
		case strings.HasPrefix(t, "+") && file != "" && file != "/dev/null":
			s.scanLineIn(filepath.Join(dir, file), file, commit, line, t[1:])
			line++
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git log in %s: %v: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	return sc.Err()
}

func writeJSONFindings(w io.Writer, fs []finding) error {
	if fs == nil {
		fs = []finding{}
	}
	b, err := json.MarshalIndent(fs, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeSARIF writes SARIF 2.1.0 with one rule, as GitHub code scanning
// accepts it (docs.github.com, "SARIF support for code scanning"): the
// tool's driver, a rule with a security-severity, one result per finding
// with a relative artifact location, a region and a fingerprint.
func writeSARIF(w io.Writer, fs []finding) error {
	type m = map[string]any
	results := []m{}
	for _, f := range fs {
		level := "warning"
		if f.Status == "live" || f.Status == "not_yet_valid" {
			level = "error"
		}
		msg := strings.TrimPrefix(f.text(), f.File+":"+strconv.Itoa(f.Line)+": ")
		if f.Commit != "" {
			msg = "in commit " + f.Commit + ": " + strings.TrimPrefix(f.text(), f.Commit[:min(12, len(f.Commit))]+":"+f.File+":"+strconv.Itoa(f.Line)+": ")
		}
		// GitHub resolves relative URIs against the repository root: a
		// history finding names its path in the repository, a walked file
		// the path as given (scan . at the root), an absolute path a file
		// URI, standard input "stdin".
		uri := strings.TrimPrefix(filepath.ToSlash(f.File), "./")
		switch {
		case f.repoPath != "":
			uri = f.repoPath
		case f.File == "-":
			uri = "stdin"
		case filepath.IsAbs(f.File):
			uri = "file://" + filepath.ToSlash(f.File)
		}
		results = append(results, m{
			"ruleId":  "apiguard/leaked-api-key",
			"level":   level,
			"message": m{"text": "apiguard API " + msg + ". Revoke it and issue a successor (apiguard keygen)."},
			"locations": []m{{"physicalLocation": m{
				"artifactLocation": m{"uri": uri},
				"region":           m{"startLine": f.Line, "startColumn": f.Column},
			}}},
			"partialFingerprints": m{"apiguardKeyHash/v1": f.hash[:32]},
			"properties":          m{"status": f.Status, "consumer": f.Consumer, "key_id": f.KeyID, "commit": f.Commit},
		})
	}
	doc := m{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []m{{
			"tool": m{"driver": m{
				"name":           "apiguard scan",
				"informationUri": "https://github.com/apiguard/apiguard/blob/main/docs/cli.md#apiguard-scan",
				"rules": []m{{
					"id":                   "apiguard/leaked-api-key",
					"name":                 "LeakedApiguardKey",
					"shortDescription":     m{"text": "An apiguard API key is committed"},
					"fullDescription":      m{"text": "A string in apiguard's key format whose checksum holds: a real key. Whoever reads the repository can use it while it is live."},
					"help":                 m{"text": "Revoke the key (revoked: true), issue a successor with apiguard keygen, and remove the key from the history.", "markdown": "Revoke the key (`\"revoked\": true`), issue a successor with `apiguard keygen`, and remove the key from the history."},
					"defaultConfiguration": m{"level": "error"},
					"properties":           m{"security-severity": "9.1", "tags": []string{"security", "secret"}, "precision": "very-high"},
				}},
			}},
			"results": results,
		}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
