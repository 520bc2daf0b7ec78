package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/configcheck"
	"github.com/apiguard/apiguard/internal/ratelimitconf"
	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keysnap"
)

var validateCmd = &command{
	name:     "validate",
	synopsis: "validate [--wasm-path build/apiguard.wasm] [--ratelimit-domain apiguard] [--config CONFIG] [--key-snapshot SNAPSHOT] [--strict] [-o text|json] FILE...",
	summary:  "check a plugin configuration, an envoy.yaml or an Istio WasmPlugin",
	help: `
Validate checks each FILE ("-" for stdin) without running Envoy. It tells
which kind of file it is from its contents:

  - an apiguard plugin configuration (JSON): everything the filter would
    refuse at start, and duplicate keys;
  - an Envoy bootstrap (YAML or JSON, with static_resources): decoded
    strictly against Envoy's API and its validation rules, then checked for
    the router being the last HTTP filter, routes naming defined clusters,
    the Wasm filter loading --wasm-path (or fetching code.remote) and
    failing closed, the path settings apiguard relies on (normalize_path,
    merge_slashes, path_with_escaped_slashes_action: REJECT_REQUEST), and
    its embedded plugin configuration, each problem at its own line, and
    Envoy's global rate-limit filter: after apiguard, in --ratelimit-domain,
    with rate_limits actions that read only headers apiguard sets and build
    its quota descriptor;
  - an Istio WasmPlugin manifest (kind: WasmPlugin): decoded strictly against
    istio.io/api, and its pluginConfig;
  - a key snapshot (apiguard keys build): loaded as the filter loads it,
    against the plugin configuration --config (JSON, with a key_store):
    its signature with key_store.public_key, its content digest, its
    consumers and keys, and the rate-limit policies it names; keys that
    have already expired or are not valid yet are warnings, as for inline
    keys.

With --key-snapshot, every plugin configuration with a key_store (in any
kind of file) is checked with the snapshot it serves: the snapshot must
load against it as the filter would load it, and the warnings about
rate-limit policies and quotas nothing uses, and about route scopes no
consumer is granted, are judged against the snapshot's consumers. Without
it, such warnings come with a note that the snapshot was not given.

A YAML file of several documents (kustomize or helm output) has each
document checked; Kubernetes objects of other kinds are skipped. YAML that
does not parse is reported as a syntax error, with its line. JSON (a file
starting with { or [, or named *.json) is judged as JSON: a syntax error is
reported as FILE:LINE:COL: message, never as YAML.

Every problem is printed with its line and path in the file. Warnings
("warning: ...") point at what is valid but probably not meant, such as a
route scope no consumer is granted or a consumer without keys; they do not
make a file invalid, unless --strict is given: then any warning fails the
run (exit status 1), for CI gates.

With -o json, stdout is one JSON object (docs/cli.md):
{"valid", "strict", "errors", "warnings", "files": [{"file", "valid",
"error", "documents": [{"index", "line", "kind", "skipped", "valid",
"detail", "problems": [{"severity", "line", "column", "path",
"message"}]}]}]}.

Exit status: 0 when every file is valid, 1 when any is not (or, with
--strict, has a warning), 2 when a file cannot be read.
`,
	run: runValidate,
}

func runValidate(c *command, e *env, args []string) int {
	fs := c.newFlagSet()
	wasmPath := fs.String("wasm-path", "",
		"the module file an Envoy bootstrap's Wasm filter must load (code.local.filename); without it, a file other than "+
			configcheck.DefaultWasmPath+" is only a warning")
	domain := fs.String("ratelimit-domain", ratelimitconf.DefaultDomain,
		"the domain an Envoy bootstrap's rate-limit filter must use (that of apiguard ratelimit-config --domain)")
	configPath := fs.String("config", "", "the plugin configuration (JSON) to check key snapshots (with a key_store) and Istio RequestAuthentications (with an identity_token) against")
	snapPath := fs.String("key-snapshot", "", "the key snapshot the configurations' key_store serves: loaded against them, and their warnings judged against its consumers")
	strictMode := fs.Bool("strict", false, "warnings fail the run too (exit status 1), as errors do")
	output := outputFlag(fs, "text", "json")
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	if fs.NArg() == 0 {
		return c.usageError(e, "no file given")
	}
	if msg := checkOutput(*output, "text", "json"); msg != "" {
		return c.usageError(e, msg)
	}
	snapshot, err := readKeySnapshot(*snapPath)
	if err != nil {
		return c.errorf(e, "--key-snapshot: %v", err)
	}
	status := exitOK
	out := validateJSON{Valid: true, Strict: *strictMode, Files: []validateFile{}}
	opts := configcheck.EnvoyOptions{WasmPath: *wasmPath, RateLimitDomain: *domain, KeySnapshot: snapshot}
	if opts.PluginConfig, err = identityConfig(e, *configPath); err != nil {
		return c.errorf(e, "--config: %v", err)
	}
	for _, name := range fs.Args() {
		f := validateOne(c, e, name, opts, *configPath)
		if f.Error != "" {
			status = exitError
		}
		for _, d := range f.Documents {
			errs, warns := d.count()
			out.Errors += errs
			out.Warnings += warns
		}
		if *output == "text" {
			writeValidateText(e.stdout, f)
		}
		out.Files = append(out.Files, f)
	}
	for _, f := range out.Files {
		if !f.Valid || f.Error != "" {
			out.Valid = false
		}
	}
	if *strictMode && out.Warnings > 0 {
		out.Valid = false
		if *output == "text" {
			fmt.Fprintf(e.stdout, "--strict: %d warning(s) fail the run\n", out.Warnings)
		}
	}
	if !out.Valid && status == exitOK {
		status = exitFail
	}
	if *output == "json" {
		if err := writeJSON(e.stdout, out); err != nil {
			return c.errorf(e, "%v", err)
		}
	}
	return status
}

// validateOne checks the file name.
func validateOne(c *command, e *env, name string, opts configcheck.EnvoyOptions, configPath string) validateFile {
	data, err := readInput(e, name)
	if err != nil {
		c.errorf(e, "%v", err)
		return validateFile{File: name, Error: err.Error(), Documents: []validateDoc{}}
	}
	if bytes.HasPrefix(data, []byte(keysnap.Magic)) {
		return validateSnapshot(c, e, name, data, configPath)
	}
	// A .json file is JSON, whatever its first character: its syntax
	// errors are JSON's, never "not valid YAML".
	if strings.HasSuffix(strings.ToLower(name), ".json") && !configcheck.LooksJSON(data) {
		if p, bad := configcheck.JSONSyntax(data); bad {
			return validateFile{File: name, Documents: []validateDoc{{Index: 1, Line: 1,
				Kind: configcheck.KindPluginConfig.String(), Problems: []problemJSON{problemOf(p)}}}}
		}
	}
	docs := configcheck.ValidateDocuments(data, opts)
	return fileOfDocuments(name, docs)
}

// validateSnapshot loads the key snapshot data against the plugin
// configuration at configPath.
func validateSnapshot(c *command, e *env, name string, data []byte, configPath string) validateFile {
	f := validateFile{File: name, Documents: []validateDoc{}}
	if configPath == "" {
		f.Error = name + " is a key snapshot: give the plugin configuration it is for with --config"
		fmt.Fprintf(e.stderr, "apiguard validate: %s\n", f.Error)
		return f
	}
	doc := validateDoc{Index: 1, Line: 1, Kind: "key snapshot", Problems: []problemJSON{}}
	fail := func(msg string) validateFile {
		doc.Problems = append(doc.Problems, problemJSON{Severity: "error", Message: msg})
		f.Documents = append(f.Documents, doc)
		return f
	}
	cfg, err := readInput(e, configPath)
	if err != nil {
		c.errorf(e, "%v", err)
		f.Error = err.Error()
		return f
	}
	pol, err := policy.Compile(cfg)
	if err != nil {
		return fail(fmt.Sprintf("invalid plugin configuration %s: %v", configPath, err))
	}
	if pol.KeyStore() == nil {
		return fail(configPath + " has no key_store: its keys are inline")
	}
	loaded, err := pol.LoadSnapshot(data)
	if err != nil {
		return fail(err.Error())
	}
	if vs := loaded.KeyPolicyViolations(); len(vs) > 0 {
		for _, v := range vs {
			doc.Problems = append(doc.Problems, problemJSON{Severity: "error", Path: "key_policy.max_lifetime",
				Message: v.String() + " (key_policy of " + configPath + ")"})
		}
		f.Documents = append(f.Documents, doc)
		return f
	}
	h, _ := keysnap.ParseHeader(data)
	doc.Valid, f.Valid = true, true
	doc.Detail = fmt.Sprintf("generation %d, %d consumers, %d keys, against %s", h.Generation, h.Consumers, h.Keys, configPath)
	keys, err := snapshotKeys(data)
	if err != nil {
		return fail(err.Error())
	}
	doc.Problems = append(doc.Problems, keyValidityWarnings(keys, snapshotNow(), func(int) string { return "" })...)
	if kp := loaded.KeyPolicy(); kp != nil {
		for _, k := range loaded.ExpiringKeys(snapshotNow()) {
			doc.Problems = append(doc.Problems, problemJSON{Severity: "warning", Path: "key_policy.expiry_warning",
				Message: "key " + k.KeyID + " of consumer " + k.Consumer + " expires at " + k.NotAfter.Format(time.RFC3339) +
					", within key_policy.expiry_warning (" + policy.FormatLongDuration(kp.ExpiryWarning) + ")"})
		}
	}
	f.Documents = append(f.Documents, doc)
	return f
}

// snapshotNow is the time snapshot keys are checked against (a variable
// for tests).
var snapshotNow = time.Now

// readInput reads the file name, or stdin for "-".
func readInput(e *env, name string) ([]byte, error) {
	if name == "-" {
		data, err := io.ReadAll(e.stdin)
		if err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
		return data, nil
	}
	return os.ReadFile(name)
}
