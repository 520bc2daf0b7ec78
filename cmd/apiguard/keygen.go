package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/apiguard/apiguard/policy/keymat"
)

var keygenCmd = &command{
	name:     "keygen",
	synopsis: "keygen --consumer ID [--prefix agk_] [--id KEYID] [--not-before T] [--not-after T] [--allow-expired] [--config FILE] [--json] [--out FILE] [--keys-file FILE]",
	summary:  "generate an API key and the configuration entry with its hash",
	help: `
Keygen generates an API key from crypto/rand in apiguard's format: the
prefix, 32 base62 characters and a 6-character CRC32 checksum. It prints the
key once, as the only line on stdout, and on stderr the entry to add to the
consumer's "keys" in the plugin configuration: the key id, the key's SHA-256
and its validity. The configuration holds only the hash; the key itself is
stored nowhere, so hand it to the consumer now.

With --json, stdout is instead one JSON object:
{"consumer", "key", "entry": {"id", "sha256", "not_before", "not_after"}}.

With --out FILE, the key is written to FILE (created with mode 0600; an
existing file is never overwritten) instead of stdout, and stdout stays empty
(or, with --json, carries the object without "key").

With --keys-file FILE, the line "KEYID<TAB>KEY" is also appended to FILE
(created with mode 0600 when missing), the keys file "apiguard replay
--keys" reads; a key id already in FILE is refused.

The consumer id, the key id and the prefix are checked as the filter's
configuration checks them (visible ASCII, at most 256 characters for ids; a
non-empty prefix of at most 64): keygen refuses what the configuration would.

With --config FILE, the configuration's key_policy applies: without
--not-after, not_before is --not-before (or now) and not_after is
max_lifetime later; a window given that breaks max_lifetime is refused.

Times are RFC 3339, such as 2027-01-01T00:00:00Z. A --not-after that has already passed is refused
(the key would be denied as expired from the start) unless --allow-expired
is given, for tests of the expired path.
`,
	run: runKeygen,
}

// keygenNow is the time --not-after is checked against (a variable for
// tests).
var keygenNow = time.Now

// keyEntry is one element of a consumer's "keys" in the configuration.
type keyEntry struct {
	ID        string `json:"id"`
	SHA256    string `json:"sha256"`
	NotBefore string `json:"not_before,omitempty"`
	NotAfter  string `json:"not_after,omitempty"`
}

// keygenOutput is keygen's --json output.
type keygenOutput struct {
	Consumer string   `json:"consumer"`
	Key      string   `json:"key,omitempty"`
	KeyFile  string   `json:"key_file,omitempty"`
	Entry    keyEntry `json:"entry"`
}

func runKeygen(c *command, e *env, args []string) int {
	fs := c.newFlagSet()
	prefix := fs.String("prefix", "agk_", "key prefix; must match key_format.prefix of the configuration")
	consumer := fs.String("consumer", "", "id of the consumer the key is for (required)")
	id := fs.String("id", "", "key id (default: CONSUMER-<first 8 hex digits of the key's hash>)")
	notBefore := fs.String("not-before", "", "first instant the key is valid, RFC 3339 (such as "+timeExample+")")
	notAfter := fs.String("not-after", "", "instant the key stops being valid, RFC 3339 (such as "+timeExample+")")
	allowExpired := fs.Bool("allow-expired", false, "accept a --not-after in the past (a key that is expired from the start, for tests)")
	asJSON := fs.Bool("json", false, "print one JSON object on stdout instead of the bare key")
	out := fs.String("out", "", "write the key to this new file (mode 0600) instead of stdout")
	config := fs.String("config", "", "the plugin configuration: with key_policy.max_lifetime, the validity window is set from it (and checked)")
	keysFile := fs.String("keys-file", "", "also append \"KEYID<TAB>KEY\" to this keys file for replay --keys (created 0600)")
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	if fs.NArg() > 0 {
		return c.usageError(e, "unexpected arguments: "+strings.Join(fs.Args(), " "))
	}
	if strings.TrimSpace(*consumer) == "" {
		return c.usageError(e, "--consumer is required")
	}
	if *prefix == "" {
		return c.usageError(e, "--prefix: must not be empty (key_format.prefix is required in the configuration)")
	}
	entry, nb, na, err := keygenValidity(*notBefore, *notAfter, *allowExpired)
	if err != nil {
		return c.usageError(e, err.Error())
	}
	if *config != "" {
		if status, ok := keygenWindow(c, e, *config, &entry, nb, na); !ok {
			return status
		}
	}

	key, err := keymat.Generate(*prefix, rand.Reader)
	if err != nil {
		if errors.Is(err, keymat.ErrBadPrefix) {
			return c.usageError(e, "--prefix: "+strings.TrimPrefix(err.Error(), "keymat: "))
		}
		return c.errorf(e, "generating a key: %v", err)
	}
	entry.SHA256 = keymat.Hash(key)
	entry.ID = *id
	if entry.ID == "" {
		entry.ID = *consumer + "-" + entry.SHA256[:8]
	}
	if err := checkKeyIDs(*consumer, entry.ID, *prefix, *id != ""); err != nil {
		return c.usageError(e, err.Error())
	}
	if *keysFile != "" {
		if err := appendKeysFile(*keysFile, entry.ID, key); err != nil {
			return c.errorf(e, "%v", err)
		}
		fmt.Fprintf(e.stderr, "apiguard keygen: appended key id %s to %s\n", entry.ID, *keysFile)
	}
	return keygenOutputs(c, e, key, *consumer, *out, *asJSON, entry)
}

// keygenValidity parses --not-before and --not-after into a key entry's
// validity window. Its errors are usage errors.
func keygenValidity(notBefore, notAfter string, allowExpired bool) (entry keyEntry, nb, na time.Time, err error) {
	if notBefore != "" {
		if nb, err = parseTimeFlag("not-before", notBefore); err != nil {
			return entry, nb, na, err
		}
		entry.NotBefore = nb.UTC().Format(time.RFC3339)
	}
	if notAfter != "" {
		if na, err = parseTimeFlag("not-after", notAfter); err != nil {
			return entry, nb, na, err
		}
		entry.NotAfter = na.UTC().Format(time.RFC3339)
	}
	if !nb.IsZero() && !na.IsZero() && !na.After(nb) {
		return entry, nb, na, errors.New("--not-after must be later than --not-before")
	}
	if !na.IsZero() && !na.After(keygenNow()) && !allowExpired {
		return entry, nb, na, fmt.Errorf("--not-after %s has already passed: the key would be denied as expired "+
			"from the start (give --allow-expired to mint it anyway, for tests)", entry.NotAfter)
	}
	return entry, nb, na, nil
}

// keygenOutputs hands the new key out: to the file out (or stdout), and
// either one JSON object on stdout (asJSON) or the configuration entry
// to add, on stderr.
func keygenOutputs(c *command, e *env, key, consumer, out string, asJSON bool, entry keyEntry) int {
	if out != "" {
		if err := writeKeyFile(out, []byte(key+"\n")); err != nil {
			return c.errorf(e, "%v", err)
		}
		fmt.Fprintf(e.stderr, "apiguard keygen: wrote the key to %s (mode 0600)\n", out)
	}
	if asJSON {
		o := keygenOutput{Consumer: consumer, Entry: entry}
		if out == "" {
			o.Key = key
		} else {
			o.KeyFile = out
		}
		b, err := json.Marshal(o)
		if err != nil {
			return c.errorf(e, "encoding the output: %v", err)
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
		return exitOK
	}
	if out == "" {
		fmt.Fprintln(e.stdout, key)
	}
	snippet, err := json.Marshal(entry)
	if err != nil {
		return c.errorf(e, "encoding the entry: %v", err)
	}
	fmt.Fprintf(e.stderr, "Add this entry to the \"keys\" of consumer %q in the plugin configuration:\n\n  %s\n\n"+
		"The configuration holds only the hash. The key is stored nowhere else: hand it to the consumer now.\n",
		consumer, snippet)
	return exitOK
}

// writeKeyFile writes data to a new file readable by its owner only (0600),
// never over an existing one; a file half written is removed. keygen,
// keys signing-key and identity signing-key write their keys with it.
func writeKeyFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating the key file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing the key file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("writing the key file: %w", err)
	}
	return nil
}
