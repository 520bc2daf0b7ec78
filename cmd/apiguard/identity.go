package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/apiguard/apiguard/internal/identitykey"
)

var identityCmd = &command{
	name:     "identity",
	synopsis: "identity signing-key|jwks [flags]",
	summary:  "make the signing key of the identity token and publish its JWKS",
	help: `
Identity works with the keys of the identity token (identity_token): the JWT
the filter sends upstream on every allowed authenticated request, which the
upstream or its sidecar verifies (docs/identity.md).

  apiguard identity signing-key   make the private key that signs the tokens
  apiguard identity jwks          print the JSON Web Key Set of the public keys

Run "apiguard identity SUBCOMMAND -h" (or "apiguard help identity
SUBCOMMAND") for a subcommand's flags.

To check an Istio RequestAuthentication against a plugin configuration, run
apiguard validate --config CONFIG requestauthentication.yaml.
`,
	run: runIdentity,
}

var identitySigningKeyCmd = &command{
	name:     "identity signing-key",
	synopsis: "identity signing-key --out FILE [--algorithm EdDSA|ES256]",
	summary:  "make the private key that signs the tokens",
	help: `
Signing-key makes a private key (EdDSA: Ed25519, the default; ES256: ECDSA
P-256) and writes it to FILE (PKCS#8 PEM, mode 0600, never overwritten).
The value for the environment variable named by signing_key_env is printed
on stdout: put it in a Kubernetes Secret, never in the configuration.
`,
	run: identitySigningKey,
}

var identityJWKSCmd = &command{
	name:     "identity jwks",
	synopsis: "identity jwks --key FILE --key-id KID [--key FILE --key-id KID ...]",
	summary:  "print the JSON Web Key Set of the public keys",
	help: `
Jwks prints the JSON Web Key Set of the public keys, for
RequestAuthentication.jwtRules[].jwks, Envoy jwt_authn's local_jwks, or a
served jwksUri. Give two keys during a rotation (docs/identity.md): each
--key is followed by its --key-id, the identity_token.key_id of the
configurations that sign with it.
`,
	run: identityJWKS,
}

func init() {
	identityCmd.subcommands = []*command{identitySigningKeyCmd, identityJWKSCmd}
}

func runIdentity(c *command, e *env, args []string) int {
	if len(args) == 0 {
		return c.usageError(e, "no subcommand given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		c.printHelp(e.stdout, c.newFlagSet())
		return exitOK
	}
	var names []string
	for _, sub := range c.subcommands {
		if sub.name == c.name+" "+args[0] {
			return sub.run(sub, e, args[1:])
		}
		names = append(names, strings.TrimPrefix(sub.name, c.name+" "))
	}
	return c.usageError(e, fmt.Sprintf("unknown subcommand %q%s", args[0], suggestion(args[0], names)))
}

func identitySigningKey(c *command, e *env, args []string) int {
	fs := c.newFlagSet()
	out := fs.String("out", "", "the file to write the private key to (must not exist)")
	alg := fs.String("algorithm", identitykey.EdDSA, "EdDSA (Ed25519) or ES256 (ECDSA P-256)")
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	if *out == "" || fs.NArg() > 0 {
		return c.usageError(e, "signing-key needs --out FILE and no arguments")
	}
	if *alg != identitykey.EdDSA && *alg != identitykey.ES256 {
		return c.usageError(e, fmt.Sprintf("--algorithm must be EdDSA or ES256, got %q", *alg))
	}
	key, err := identitykey.Generate(*alg)
	if err != nil {
		return c.errorf(e, "generating the key: %v", err)
	}
	pemBytes, err := identitykey.MarshalPEM(key)
	if err != nil {
		return c.errorf(e, "encoding the key: %v", err)
	}
	value, err := identitykey.EnvValue(key)
	if err != nil {
		return c.errorf(e, "encoding the key: %v", err)
	}
	if err := writeKeyFile(*out, pemBytes); err != nil {
		return c.errorf(e, "%v", err)
	}
	fmt.Fprintln(e.stdout, value)
	fmt.Fprintf(e.stderr, "Wrote the %s private key to %s. The line above is the value of the environment\n"+
		"variable identity_token.signing_key_env names (a Kubernetes Secret, handed to the Wasm VM);\n"+
		"apiguard identity jwks --key %s --key-id KID prints the public key set for the upstreams.\n", *alg, *out, *out)
	return exitOK
}

// keyList collects --key and --key-id in the order given.
type keyList struct {
	files, kids []string
	order       []string // "key" or "key-id", as given
}

func (l *keyList) flag(kind string) flag.Value { return keyFlag{l, kind} }

type keyFlag struct {
	l    *keyList
	kind string
}

func (f keyFlag) String() string { return "" }

func (f keyFlag) Set(v string) error {
	if f.kind == "key" {
		f.l.files = append(f.l.files, v)
	} else {
		f.l.kids = append(f.l.kids, v)
	}
	f.l.order = append(f.l.order, f.kind)
	return nil
}

func identityJWKS(c *command, e *env, args []string) int {
	fs := c.newFlagSet()
	var l keyList
	fs.Var(l.flag("key"), "key", "a private key file (apiguard identity signing-key writes one); repeatable")
	fs.Var(l.flag("key-id"), "key-id", "the key id (kid) of the --key before it; repeatable")
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	if fs.NArg() > 0 || len(l.files) == 0 {
		return c.usageError(e, "jwks needs --key FILE --key-id KID (once per key) and no arguments")
	}
	for i, kind := range l.order {
		if want := []string{"key", "key-id"}[i%2]; kind != want || len(l.order)%2 != 0 {
			return c.usageError(e, "give each --key FILE followed by its --key-id KID")
		}
	}
	var entries []identitykey.Entry
	for i, path := range l.files {
		data, err := os.ReadFile(path)
		if err != nil {
			return c.errorf(e, "reading the key: %v", err)
		}
		key, err := identitykey.ParsePEM(data)
		if err != nil {
			return c.errorf(e, "%s: %v (apiguard identity signing-key writes one)", path, err)
		}
		entries = append(entries, identitykey.Entry{Key: key, Kid: l.kids[i]})
	}
	out, err := identitykey.Marshal(entries)
	if err != nil {
		return c.errorf(e, "%v", err)
	}
	fmt.Fprintln(e.stdout, string(out))
	return exitOK
}

// identityConfig reads the plugin configuration validate --config names,
// which Istio RequestAuthentications are checked against; nil without one.
func identityConfig(e *env, path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	return readInput(e, path)
}
