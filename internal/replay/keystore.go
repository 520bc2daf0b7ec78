package replay

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/policy/keyfetch"
	"github.com/apiguard/apiguard/policy/keysnap"
)

// maxLoadTicks bounds the ticks a run gives the filter to fetch and load
// a snapshot: loading is spread over ticks in steps of a few milliseconds
// of work, so even a large snapshot needs far fewer.
const maxLoadTicks = 200_000

// ErrNoKeySnapshot is Run's error for a configuration with a key_store and
// no Options.KeySnapshot: every request that needs a key would be a 503.
var ErrNoKeySnapshot = errors.New("the configuration has a key_store: give the key snapshot it serves, or every request that needs a key is a 503 key_store_unavailable")

// snapshotStore answers the filter's fetches of its key store with one
// snapshot, as an HTTP server with ETag and Range support would. The
// driver runs it for the key store's cluster; a call to another cluster
// fails, as a call to a cluster Envoy does not know would.
type snapshotStore struct {
	snapshot []byte
	etag     string
}

func newSnapshotStore(snapshot []byte) *snapshotStore {
	sum := sha256.Sum256(snapshot)
	return &snapshotStore{snapshot: snapshot, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// handler serves the snapshot at every path: the filter asks for one.
func (s *snapshotStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("ETag", s.etag)
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.snapshot))
}

// loadKeySnapshot has the filter, started with a key_store whose cluster
// serves snapshot, fetch and load it: it answers the filter's fetches and
// ticks it until its generation gauge shows the snapshot's generation. It
// fails when the filter rejects the snapshot, with the filter's own log
// lines.
func loadKeySnapshot(host driver.Env, snapshot []byte) error {
	hdr, err := keysnap.ParseHeader(snapshot)
	if err != nil {
		return fmt.Errorf("the key snapshot: %w", err)
	}
	for range maxLoadTicks {
		if _, err := host.DeliverHTTPCalls(); err != nil {
			return err
		}
		if gen, err := host.Gauge(metricname.KeyStoreGeneration); err == nil && uint64(gen) == hdr.Generation {
			return nil
		}
		if n, err := host.Counter(metricname.KeyStoreFetch(keyfetch.Rejected)); err == nil && n > 0 {
			return fmt.Errorf("the filter rejected the key snapshot (generation %d):%s", hdr.Generation, filterLogs(host))
		}
		if err := host.Tick(); err != nil {
			return err
		}
	}
	return fmt.Errorf("the filter did not load the key snapshot (generation %d) in %d ticks:%s", hdr.Generation, maxLoadTicks, filterLogs(host))
}

// filterLogs returns the filter's warning, error and critical log lines,
// one per line, each indented.
func filterLogs(host driver.Env) string {
	var b strings.Builder
	for _, level := range []int{driver.LogWarn, driver.LogError, driver.LogCritical} {
		for _, l := range host.Logs(level) {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

// HasKeyStore reports whether a plugin configuration names a key store
// (key_store.cluster), whose snapshot Run needs.
func HasKeyStore(config []byte) bool { return readConfigInfo(config).keyStoreCluster != "" }
