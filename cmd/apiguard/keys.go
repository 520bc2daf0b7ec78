package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keysnap"
)

var keysCmd = &command{
	name:     "keys",
	synopsis: "keys signing-key|build|inspect [flags]",
	summary:  "make, sign and inspect key snapshots for a key_store",
	help: `
Keys works with key snapshots: the consumers and keys a filter with a
key_store fetches from an HTTP server or object store, signed with Ed25519.

  apiguard keys signing-key   make the Ed25519 key pair that signs snapshots
  apiguard keys build         build a signed snapshot from a consumers file
  apiguard keys inspect       show a snapshot's header, check its digest and signature

Run "apiguard keys SUBCOMMAND -h" (or "apiguard help keys SUBCOMMAND") for
a subcommand's flags.

With --config, the snapshot is also refused when a key that is not revoked
breaks the configuration's key_policy.max_lifetime (no not_after, no
not_before, or a longer validity window).

To check a snapshot against a plugin configuration (policies it names, the
configuration's public key), run apiguard validate --config CONFIG SNAPSHOT.
`,
	run: runKeys,
}

var keysSigningKeyCmd = &command{
	name:     "keys signing-key",
	synopsis: "keys signing-key --out FILE",
	summary:  "make the Ed25519 key pair that signs snapshots",
	help: `
Signing-key makes an Ed25519 key pair: the private key goes to FILE (PKCS#8
PEM, mode 0600, never overwritten); the public key, for
key_store.public_key, is printed on stdout.
`,
	run: keysSigningKey,
}

var keysBuildCmd = &command{
	name:     "keys build",
	synopsis: "keys build --consumers FILE --signing-key FILE --out FILE [--generation N] [--unsigned]",
	summary:  "build a signed snapshot from a consumers file",
	help: `
Build reads {"consumers": [...]} (the schema of the configuration's
consumers section, validated with the same messages and JSON paths) and
writes a signed snapshot. The generation defaults to the creation time in
milliseconds since the Unix epoch: a filter only loads a snapshot of a newer
generation than the one it has. --unsigned writes an unsigned snapshot,
which only a key_store with "allow_unsigned": true accepts (tests only).

Keys that have already expired, or are not valid yet, are warned about on
stderr (warning: PATH: ...), as validate does for inline keys; they are
still written.
`,
	run: keysBuild,
}

var keysInspectCmd = &command{
	name:     "keys inspect",
	synopsis: "keys inspect FILE [--public-key KEY] [-o text|json]",
	summary:  "show a snapshot's header, check its digest and signature",
	help: `
Inspect prints the format version, generation, creation time, counts, size
and content digest of the snapshot FILE ("-" for stdin), checks the digest
and, with --public-key (base64), the signature. Exit status 1 when the
snapshot is corrupt or the signature does not verify.

With -o json, stdout is one JSON object (docs/cli.md):
{"file", "valid", "error", "format_version", "generation", "created",
"consumers", "keys", "validity_windows", "size_bytes", "content_digest",
"content_matches", "signed", "signature"}; "signature" is "none",
"not_checked", "verified" or "invalid".
`,
	run: keysInspect,
}

func init() {
	keysCmd.subcommands = []*command{keysSigningKeyCmd, keysBuildCmd, keysInspectCmd}
}

func runKeys(c *command, e *env, args []string) int {
	if len(args) == 0 {
		return c.usageError(e, "no subcommand given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		c.printHelp(e.stdout, c.newFlagSet())
		return exitOK
	}
	for _, sub := range c.subcommands {
		if sub.name == c.name+" "+args[0] {
			return sub.run(sub, e, args[1:])
		}
	}
	var names []string
	for _, sub := range c.subcommands {
		names = append(names, strings.TrimPrefix(sub.name, c.name+" "))
	}
	return c.usageError(e, fmt.Sprintf("unknown subcommand %q%s", args[0], suggestion(args[0], names)))
}

func keysSigningKey(c *command, e *env, args []string) int {
	fs := c.newFlagSet()
	out := fs.String("out", "", "the file to write the private key to (must not exist)")
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	if *out == "" || fs.NArg() > 0 {
		return c.usageError(e, "signing-key needs --out FILE and no arguments")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return c.errorf(e, "generating the key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return c.errorf(e, "encoding the key: %v", err)
	}
	if err := writeKeyFile(*out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return c.errorf(e, "%v", err)
	}
	fmt.Fprintln(e.stdout, base64.StdEncoding.EncodeToString(pub))
	fmt.Fprintf(e.stderr, "Wrote the private key to %s. Set the public key above as key_store.public_key;\n"+
		"keep the private key where only the snapshot build can read it.\n", *out)
	return exitOK
}

// readSigningKey reads a PKCS#8 PEM Ed25519 private key.
func readSigningKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New(path + ": not a PEM private key (apiguard keys signing-key writes one)")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New(path + ": not an Ed25519 key")
	}
	return priv, nil
}

func keysBuild(c *command, e *env, args []string) int {
	fs := c.newFlagSet()
	consumers := fs.String("consumers", "", `the consumers file, {"consumers": [...]}`)
	signingKey := fs.String("signing-key", "", "the private key file (apiguard keys signing-key)")
	out := fs.String("out", "", "the snapshot file to write")
	generation := fs.Uint64("generation", 0, "the snapshot's generation (default: now, in milliseconds since the epoch)")
	unsigned := fs.Bool("unsigned", false, "write an unsigned snapshot (tests only)")
	audience := fs.String("audience", "", "bind the snapshot to the deployments whose key_store.audience is this (e.g. prod)")
	config := fs.String("config", "", "the plugin configuration the snapshot is for: its rate-limit policies, quotas, audience, max_size and public key are checked")
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	switch {
	case *consumers == "" || *out == "" || fs.NArg() > 0:
		return c.usageError(e, "build needs --consumers FILE and --out FILE")
	case *signingKey == "" && !*unsigned:
		return c.usageError(e, "build needs --signing-key FILE (or --unsigned, for tests only)")
	case *signingKey != "" && *unsigned:
		return c.usageError(e, "--signing-key and --unsigned exclude each other")
	}
	var priv ed25519.PrivateKey
	if !*unsigned {
		var err error
		if priv, err = readSigningKey(*signingKey); err != nil {
			return c.errorf(e, "%v", err)
		}
	}
	cons, keys, status := readSnapshotConsumers(c, e, *consumers)
	if status != exitOK {
		return status
	}
	now := time.Now()
	gen := *generation
	if gen == 0 {
		gen = uint64(now.UnixMilli())
	}
	snap, err := keysnap.Encode(&keysnap.Snapshot{Generation: gen, Created: now, Audience: *audience, Consumers: cons, Keys: keys}, priv)
	if err != nil {
		return c.errorf(e, "%v", err)
	}
	if *config != "" {
		if status := checkSnapshotAgainst(c, e, *config, snap); status != exitOK {
			return status
		}
	}
	if err := writeSnapshot(*out, snap); err != nil {
		return c.errorf(e, "%v", err)
	}
	signed := "signed"
	if priv == nil {
		signed = "UNSIGNED"
	}
	fmt.Fprintf(e.stdout, "%s: generation %d, %d consumers, %d keys, %d bytes, %s\n", *out, gen, len(cons), len(keys), len(snap), signed)
	return exitOK
}

// readSnapshotConsumers reads the consumers file of keys build at path,
// printing each problem with its JSON path, and warns about keys whose
// validity window is odd.
func readSnapshotConsumers(c *command, e *env, path string) ([]keysnap.Consumer, []keysnap.Key, int) {
	doc, err := readInput(e, path)
	if err != nil {
		return nil, nil, c.errorf(e, "%v", err)
	}
	cons, keys, err := policy.ParseConsumers(doc)
	if err != nil {
		var ce *policy.ConfigError
		if errors.As(err, &ce) {
			for _, fe := range ce.Errors {
				fmt.Fprintf(e.stderr, "%s: %s\n", path, fe.Error())
			}
			return nil, nil, exitFail
		}
		return nil, nil, c.errorf(e, "%v", err)
	}
	sk := make([]snapshotKey, len(keys))
	for i, k := range keys {
		sk[i] = snapshotKey{consumer: cons[k.Consumer].ID, id: k.ID, notBefore: k.NotBefore, notAfter: k.NotAfter}
	}
	for _, w := range keyValidityWarnings(sk, snapshotNow(), keyRefPaths(sk, func(i int) int { return keys[i].Consumer })) {
		fmt.Fprintf(e.stderr, "%s: warning: %s: %s\n", path, w.Path, w.Message)
	}
	return cons, keys, exitOK
}

// writeSnapshot writes snap to out (mode 0644) next to it and renames it
// into place, so that a server never serves a half-written snapshot.
func writeSnapshot(out string, snap []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".apiguard-snapshot-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(snap); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

func keysInspect(c *command, e *env, args []string) int {
	fs := c.newFlagSet()
	pubFlag := fs.String("public-key", "", "the public key (base64) to verify the signature with")
	output := outputFlag(fs, "text", "json")
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	if fs.NArg() != 1 {
		return c.usageError(e, "inspect needs one FILE")
	}
	if msg := checkOutput(*output, "text", "json"); msg != "" {
		return c.usageError(e, msg)
	}
	file := fs.Arg(0)
	var pub ed25519.PublicKey
	if *pubFlag != "" {
		b, err := base64.StdEncoding.DecodeString(*pubFlag)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return c.usageError(e, "--public-key must be an Ed25519 public key in base64")
		}
		pub = b
	}
	data, err := readInput(e, file)
	if err != nil {
		return c.errorf(e, "%v", err)
	}
	r := inspectSnapshot(file, data, pub)
	status := exitOK
	if !r.Valid {
		status = exitFail
	}
	if *output == "json" {
		if err := writeJSON(e.stdout, r); err != nil {
			return c.errorf(e, "%v", err)
		}
		return status
	}
	w := e.stdout
	if r.Error != "" {
		fmt.Fprintf(w, "%s: %s\n", file, r.Error)
		return status
	}
	fmt.Fprintf(w, "%s:\n  format version  %d\n  generation      %d\n  created         %s\n", file, r.FormatVersion, r.Generation, r.Created)
	fmt.Fprintf(w, "  consumers       %d\n  keys            %d\n  validity windows %d\n  size            %d bytes", r.Consumers, r.Keys, r.ValidityWindows, r.SizeBytes)
	if r.Keys > 0 {
		fmt.Fprintf(w, " (%.1f per key)", float64(r.SizeBytes)/float64(r.Keys))
	}
	fmt.Fprintf(w, "\n  content digest  %s\n", r.ContentDigest)
	if r.FormatVersion >= keysnap.Version {
		aud := r.Audience
		if aud == "" {
			aud = "(none: any key_store without an audience)"
		}
		fmt.Fprintf(w, "  audience        %s\n", aud)
	}
	if r.ContentMatches {
		fmt.Fprintln(w, "  content         matches the digest")
	} else {
		fmt.Fprintln(w, "  content         CORRUPT: the body does not match the digest")
	}
	switch r.Signature {
	case sigNone:
		fmt.Fprintln(w, "  signature       none (unsigned: only allow_unsigned accepts it)")
	case sigNotChecked:
		fmt.Fprintln(w, "  signature       present, not checked (no --public-key)")
	case sigVerified:
		fmt.Fprintln(w, "  signature       verifies with the public key")
	default:
		fmt.Fprintln(w, "  signature       DOES NOT VERIFY with the public key")
	}
	return status
}

// The values of inspectJSON.Signature.
const (
	sigNone       = "none"        // the snapshot is unsigned
	sigNotChecked = "not_checked" // signed, and no --public-key given
	sigVerified   = "verified"    // the signature verifies with --public-key
	sigInvalid    = "invalid"     // it does not
)

// inspectJSON is keys inspect's result, and its -o json output.
type inspectJSON struct {
	File string `json:"file"`
	// Valid is false when the header cannot be read, the content does not
	// match its digest, or --public-key was given and the snapshot is
	// unsigned or its signature does not verify (exit status 1).
	Valid bool `json:"valid"`
	// Error says why the header cannot be read; the fields below are then
	// left out.
	Error           string `json:"error,omitempty"`
	FormatVersion   int    `json:"format_version,omitempty"`
	Generation      uint64 `json:"generation,omitempty"`
	Created         string `json:"created,omitempty"` // RFC 3339, UTC
	Consumers       int    `json:"consumers"`
	Keys            int    `json:"keys"`
	ValidityWindows int    `json:"validity_windows"`
	SizeBytes       int    `json:"size_bytes"`
	ContentDigest   string `json:"content_digest,omitempty"` // "sha256:<hex>"
	ContentMatches  bool   `json:"content_matches"`
	Signed          bool   `json:"signed"`
	Signature       string `json:"signature,omitempty"`
	// Audience is the audience the snapshot is bound to (format 2 and
	// later; "" for none: any key_store without an audience loads it).
	Audience string `json:"audience"`
}

// inspectSnapshot reads the header of the snapshot data, checks its digest
// and, when pub is not nil, its signature.
func inspectSnapshot(file string, data []byte, pub ed25519.PublicKey) inspectJSON {
	r := inspectJSON{File: file, SizeBytes: len(data)}
	h, err := keysnap.ParseHeader(data)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.FormatVersion, r.Generation = int(h.Version), h.Generation
	r.Created = h.CreatedTime().Format(time.RFC3339Nano)
	r.Consumers, r.Keys, r.ValidityWindows = int(h.Consumers), int(h.Keys), int(h.Windows)
	r.ContentDigest = "sha256:" + hex.EncodeToString(h.Digest[:])
	r.ContentMatches = sha256.Sum256(data[h.Size:]) == h.Digest
	r.Audience = h.Audience
	r.Signed = h.Signed
	r.Valid = r.ContentMatches
	switch {
	case !h.Signed:
		r.Signature = sigNone
		if pub != nil {
			r.Valid = false
		}
	case pub == nil:
		r.Signature = sigNotChecked
	case keysnap.VerifySignature(data, &h, pub) == nil:
		r.Signature = sigVerified
	default:
		r.Signature = sigInvalid
		r.Valid = false
	}
	return r
}

// checkSnapshotAgainst loads snap with the plugin configuration in file, as
// the filter would: a rate-limit policy or quota the configuration lacks, a
// signing key that is not the configuration's public key, another audience
// or a size over max_size is an error, and no snapshot is written.
func checkSnapshotAgainst(c *command, e *env, file string, snap []byte) int {
	cfg, err := readInput(e, file)
	if err != nil {
		return c.errorf(e, "%v", err)
	}
	p, err := policy.Compile(cfg)
	if err != nil {
		var ce *policy.ConfigError
		if errors.As(err, &ce) {
			for _, fe := range ce.Errors {
				fmt.Fprintf(e.stderr, "%s: %s\n", file, fe.Error())
			}
			return exitFail
		}
		return c.errorf(e, "%s: %v", file, err)
	}
	if p.KeyStore() == nil {
		return c.usageError(e, file+" has no key_store section: --config takes the configuration that loads the snapshot")
	}
	loaded, err := p.LoadSnapshot(snap)
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: the snapshot would not load: %v\n", file, err)
		return exitFail
	}
	if vs := loaded.KeyPolicyViolations(); len(vs) > 0 {
		for _, v := range vs {
			fmt.Fprintf(e.stderr, "%s: %s (key_policy of %s)\n", file, v, file)
		}
		return exitFail
	}
	return exitOK
}
