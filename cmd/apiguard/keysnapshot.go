package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/apiguard/apiguard/policy/keysnap"
)

// readKeySnapshot reads the key snapshot of a --key-snapshot flag: nil for
// an empty path, an error for a file that is not a snapshot (apiguard keys
// build writes them).
func readKeySnapshot(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(data, []byte(keysnap.Magic)) {
		return nil, fmt.Errorf("%s is not a key snapshot (apiguard keys build writes them)", path)
	}
	return data, nil
}
