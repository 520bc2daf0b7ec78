package replay

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"

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
// snapshot, as an HTTP server with ETag and Range support would.
type snapshotStore struct {
	cluster   string
	snapshot  []byte
	etag      string
	delivered int // callouts answered so far
}

func newSnapshotStore(cluster string, snapshot []byte) *snapshotStore {
	sum := sha256.Sum256(snapshot)
	return &snapshotStore{cluster: cluster, snapshot: snapshot, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// handler serves the snapshot at every path: the filter asks for one.
func (s *snapshotStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("ETag", s.etag)
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.snapshot))
}

// answer answers the callouts the filter made since the last call, and
// returns how many. A callout to another cluster fails, as a call to a
// cluster Envoy does not know would.
func (s *snapshotStore) answer(host proxytest.HostEmulator) int {
	n := 0
	for {
		calls := host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
		if s.delivered >= len(calls) {
			return n
		}
		c := calls[s.delivered]
		s.delivered++
		n++
		if c.Upstream != s.cluster {
			host.CallOnHttpCallResponse(c.CalloutID, nil, nil, nil)
			continue
		}
		headers, body := s.serve(c.Headers)
		host.CallOnHttpCallResponse(c.CalloutID, headers, nil, body)
	}
}

// serve runs the handler on a callout's headers.
func (s *snapshotStore) serve(hs [][2]string) ([][2]string, []byte) {
	method, _ := header(hs, ":method")
	path, _ := header(hs, ":path")
	if method == "" {
		method = http.MethodGet
	}
	if !strings.HasPrefix(path, "/") {
		path = "/"
	}
	r := httptest.NewRequest(method, path, nil)
	for _, h := range hs {
		if !strings.HasPrefix(h[0], ":") {
			r.Header.Add(h[0], h[1])
		}
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	res := rec.Result()
	headers := [][2]string{{":status", strconv.Itoa(res.StatusCode)}}
	for k, vs := range res.Header {
		for _, v := range vs {
			headers = append(headers, [2]string{strings.ToLower(k), v})
		}
	}
	return headers, rec.Body.Bytes()
}

// loadKeySnapshot has the filter, started with a key_store on cluster,
// fetch and load snapshot: it answers the filter's fetches and ticks it
// until its generation gauge shows the snapshot's generation. It fails when
// the filter rejects the snapshot, with the filter's own log lines.
func loadKeySnapshot(host proxytest.HostEmulator, cluster string, snapshot []byte) error {
	hdr, err := keysnap.ParseHeader(snapshot)
	if err != nil {
		return fmt.Errorf("the key snapshot: %w", err)
	}
	store := newSnapshotStore(cluster, snapshot)
	for range maxLoadTicks {
		store.answer(host)
		if gen, err := host.GetGaugeMetric(metricname.KeyStoreGeneration); err == nil && gen == hdr.Generation {
			return nil
		}
		if n, err := host.GetCounterMetric(metricname.KeyStoreFetch(keyfetch.Rejected)); err == nil && n > 0 {
			return fmt.Errorf("the filter rejected the key snapshot (generation %d):%s", hdr.Generation, filterLogs(host))
		}
		host.Tick()
	}
	return fmt.Errorf("the filter did not load the key snapshot (generation %d) in %d ticks:%s", hdr.Generation, maxLoadTicks, filterLogs(host))
}

// filterLogs returns the filter's warning, error and critical log lines,
// one per line, each indented.
func filterLogs(host proxytest.HostEmulator) string {
	var b strings.Builder
	for _, ls := range [][]string{host.GetWarnLogs(), host.GetErrorLogs(), host.GetCriticalLogs()} {
		for _, l := range ls {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

// HasKeyStore reports whether a plugin configuration names a key store
// (key_store.cluster), whose snapshot Run needs.
func HasKeyStore(config []byte) bool { return readConfigInfo(config).keyStoreCluster != "" }
