package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/apiguard/apiguard/policy"
)

// checkKeyIDs asks package policy whether a configuration holding this
// consumer id, key id and key prefix would start: the ids and the prefix
// are checked by the same code the filter runs, so keygen never mints a key
// whose entry the configuration would refuse. It returns the policy's
// messages, one per refused value, naming the flag. idGiven is false when
// keyID was derived from the consumer id: its problem is then the
// consumer's, and only that one is reported.
func checkKeyIDs(consumer, keyID, prefix string, idGiven bool) error {
	cfg := map[string]any{
		"key_format": map[string]any{"prefix": prefix},
		"consumers": []any{map[string]any{"id": consumer,
			"keys": []any{map[string]any{"id": keyID, "sha256": strings.Repeat("0", 64)}}}},
		"routes": []any{map[string]any{"name": "r", "path": "/r", "public": true}},
	}
	text, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encoding the check configuration: %w", err)
	}
	_, err = policy.Compile(text)
	var ce *policy.ConfigError
	if err == nil || !errors.As(err, &ce) {
		return err
	}
	flags := map[string]string{
		"consumers[0].id":         "--consumer",
		"consumers[0].keys[0].id": "--id",
		"key_format.prefix":       "--prefix",
	}
	var msgs []string
	consumerRefused := false
	for _, fe := range ce.Errors {
		consumerRefused = consumerRefused || fe.Path == "consumers[0].id"
	}
	for _, fe := range ce.Errors {
		if fe.Path == "consumers[0].keys[0].id" && !idGiven && consumerRefused {
			continue
		}
		if f, ok := flags[fe.Path]; ok {
			msgs = append(msgs, fmt.Sprintf("%s: the configuration would refuse it: %s", f, fe.Msg))
		}
	}
	if len(msgs) == 0 {
		return nil // nothing about the flags (should not happen)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// appendKeysFile appends "ID<TAB>KEY" to the keys file at path (created
// with mode 0600 when missing), the format replay --keys reads. It refuses
// an id already in the file, or one replay cannot read back.
func appendKeysFile(path, id, key string) error {
	if strings.ContainsAny(id, "{}") {
		return fmt.Errorf("key id %q contains a brace, which replay's {{key:ID}} placeholders cannot name", id)
	}
	existing, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("reading the keys file: %w", err)
	}
	for line := range strings.Lines(string(existing)) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == id {
			return fmt.Errorf("%s already holds key id %q", path, id)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening the keys file: %w", err)
	}
	sep := ""
	if len(existing) > 0 && !strings.HasSuffix(string(existing), "\n") {
		sep = "\n"
	}
	if _, err := fmt.Fprintf(f, "%s%s\t%s\n", sep, id, key); err != nil {
		f.Close()
		return fmt.Errorf("writing the keys file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the keys file: %w", err)
	}
	return nil
}

// keygenWindow applies the key_policy of the configuration at path to the
// new key's entry: without --not-after, the window starts at --not-before
// (or now) and lasts key_policy.max_lifetime; a window given that breaks
// the policy is a usage error. ok is false when keygen must stop with
// status.
func keygenWindow(c *command, e *env, path string, entry *keyEntry, nb, na time.Time) (status int, ok bool) {
	cfg, err := readInput(e, path)
	if err != nil {
		return c.errorf(e, "%v", err), false
	}
	pol, err := policy.Compile(cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "apiguard keygen: %s is not a valid configuration:\n%v\n", path, err)
		return exitFail, false
	}
	kp := pol.KeyPolicy()
	if kp == nil || kp.MaxLifetime == 0 {
		return exitOK, true
	}
	if na.IsZero() {
		if nb.IsZero() {
			nb = time.Now().UTC().Truncate(time.Second)
		}
		na = nb.Add(kp.MaxLifetime)
		entry.NotBefore, entry.NotAfter = nb.UTC().Format(time.RFC3339), na.UTC().Format(time.RFC3339)
		return exitOK, true
	}
	if msg := kp.CheckWindow(nb.UnixNano(), na.UnixNano(), !nb.IsZero(), true); msg != "" {
		return c.usageError(e, "the key "+msg+" in "+path), false
	}
	return exitOK, true
}
