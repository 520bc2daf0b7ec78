package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/apiguard/apiguard/internal/configcheck"
	"github.com/apiguard/apiguard/internal/ratelimitconf"
	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keysnap"
)

var validateCmd = &command{
	name:     "validate",
	synopsis: "validate [--wasm-path build/apiguard.wasm] [--ratelimit-domain apiguard] [--config CONFIG] [--key-snapshot SNAPSHOT] FILE...",
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
    consumers and keys, and the rate-limit policies it names.

With --key-snapshot, every plugin configuration with a key_store (in any
kind of file) is checked with the snapshot it serves: the snapshot must
load against it as the filter would load it, and the warnings about
rate-limit policies and quotas nothing uses, and about route scopes no
consumer is granted, are judged against the snapshot's consumers. Without
it, such warnings come with a note that the snapshot was not given.

A YAML file of several documents (kustomize or helm output) has each
document checked; Kubernetes objects of other kinds are skipped. YAML that
does not parse is reported as a syntax error, with its line.

Every problem is printed with its line and path in the file. Warnings
("warning: ...") point at what is valid but probably not meant, such as a
route scope no consumer is granted or a consumer without keys; they do not
make a file invalid. Exit status: 0 when every file is valid, 1 when any is
not, 2 when a file cannot be read.
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
	configPath := fs.String("config", "", "the plugin configuration (JSON, with a key_store) to check key snapshots against")
	snapPath := fs.String("key-snapshot", "", "the key snapshot the configurations' key_store serves: loaded against them, and their warnings judged against its consumers")
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	if fs.NArg() == 0 {
		return c.usageError(e, "no file given")
	}
	snapshot, err := readKeySnapshot(*snapPath)
	if err != nil {
		return c.errorf(e, "--key-snapshot: %v", err)
	}
	status := exitOK
	for _, name := range fs.Args() {
		data, err := readInput(e, name)
		if err != nil {
			c.errorf(e, "%v", err)
			status = exitError
			continue
		}
		if bytes.HasPrefix(data, []byte(keysnap.Magic)) {
			if st := validateSnapshot(c, e, name, data, *configPath); st > status {
				status = st
			}
			continue
		}
		docs := configcheck.ValidateDocuments(data, configcheck.EnvoyOptions{WasmPath: *wasmPath, RateLimitDomain: *domain, KeySnapshot: snapshot})
		if !reportDocuments(e, name, docs) && status == exitOK {
			status = exitFail
		}
	}
	return status
}

// reportDocuments prints the result of each document of the file name and
// reports whether all are valid. A file of one document prints as
// "NAME: ok (KIND)"; in a file of several, each document has its own
// "NAME: document N (line L): ..." line. A file of several documents of
// which none is an apiguard file is invalid: nothing was checked.
func reportDocuments(e *env, name string, docs []configcheck.Document) bool {
	valid, checked := true, 0
	for _, d := range docs {
		label := name
		if len(docs) > 1 {
			label = fmt.Sprintf("%s: document %d (line %d)", name, d.Index, d.Line)
		}
		if d.Skip != "" {
			fmt.Fprintf(e.stdout, "%s: skipped: %s\n", label, d.Skip)
			continue
		}
		checked++
		errs := configcheck.Errors(d.Problems)
		if len(errs) == 0 {
			fmt.Fprintf(e.stdout, "%s: ok (%s)\n", label, d.Kind)
		} else {
			fmt.Fprintf(e.stdout, "%s: %d problem(s) (%s)\n", label, len(errs), d.Kind)
			valid = false
		}
		for _, p := range d.Problems { // errors and warnings, in document order
			fmt.Fprintf(e.stdout, "%s: %s\n", name, p)
		}
	}
	if checked == 0 {
		fmt.Fprintf(e.stdout, "%s: no apiguard plugin configuration, Envoy bootstrap or Istio WasmPlugin among %d documents\n", name, len(docs))
		return false
	}
	return valid
}

// validateSnapshot loads the key snapshot data against the plugin
// configuration at configPath.
func validateSnapshot(c *command, e *env, name string, data []byte, configPath string) int {
	if configPath == "" {
		fmt.Fprintf(e.stderr, "apiguard validate: %s is a key snapshot: give the plugin configuration it is for with --config\n", name)
		return exitError
	}
	cfg, err := readInput(e, configPath)
	if err != nil {
		return c.errorf(e, "%v", err)
	}
	pol, err := policy.Compile(cfg)
	if err != nil {
		fmt.Fprintf(e.stdout, "%s: invalid plugin configuration:\n%v\n", configPath, err)
		return exitFail
	}
	if pol.KeyStore() == nil {
		fmt.Fprintf(e.stdout, "%s: %s has no key_store: its keys are inline\n", name, configPath)
		return exitFail
	}
	loaded, err := pol.LoadSnapshot(data)
	if err != nil {
		fmt.Fprintf(e.stdout, "%s: 1 problem(s) (key snapshot)\n%s: %v\n", name, name, err)
		return exitFail
	}
	h, _ := keysnap.ParseHeader(data)
	if vs := loaded.KeyPolicyViolations(); len(vs) > 0 {
		fmt.Fprintf(e.stdout, "%s: %d problem(s) (key snapshot)\n", name, len(vs))
		for _, v := range vs {
			fmt.Fprintf(e.stdout, "%s: %s (key_policy.max_lifetime of %s)\n", name, v, configPath)
		}
		return exitFail
	}
	fmt.Fprintf(e.stdout, "%s: ok (key snapshot, generation %d, %d consumers, %d keys, against %s)\n", name, h.Generation, h.Consumers, h.Keys, configPath)
	if kp := loaded.KeyPolicy(); kp != nil {
		for _, k := range loaded.ExpiringKeys(time.Now()) {
			fmt.Fprintf(e.stdout, "%s: warning: key %s of consumer %s expires at %s, within key_policy.expiry_warning (%s)\n",
				name, k.KeyID, k.Consumer, k.NotAfter.Format(time.RFC3339), policy.FormatLongDuration(kp.ExpiryWarning))
		}
	}
	return exitOK
}

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
