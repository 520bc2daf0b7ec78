package keyfetch

import (
	"strconv"
	"testing"

	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keysnap"
)

// FuzzFirstRange: whatever the first range holds and whatever total its
// Content-Range announces, the fetcher never makes room for more than
// key_store.max_size, and makes room only for a header the store's key
// signed.
func FuzzFirstRange(f *testing.F) {
	g := snapFuzz(f)
	f.Add(g[:1024], uint64(len(g)))
	f.Add(g[:1024], uint64(1<<30))
	f.Add(g, uint64(len(g)))
	f.Add([]byte("APGKSNAP"), uint64(8))
	const maxSize = 64 << 10
	p := base(&testing.T{}, 1024, func(ks map[string]any) { ks["max_size"] = maxSize })
	f.Fuzz(func(t *testing.T, first []byte, total uint64) {
		if len(first) == 0 || total < uint64(len(first)) || total > 1<<40 {
			return
		}
		fl := &memFloor{}
		fetcher := New(p, fl)
		fetcher.Start(t0, nil)
		made := 0
		newBuffer = func(total int) *keysnap.Buffer {
			made = max(made, total)
			return keysnap.NewBuffer(total)
		}
		defer func() { newBuffer = keysnap.NewBuffer }()
		hs := policy.HeaderList{{":status", "206"}, {"etag", `"x"`},
			{"content-range", "bytes 0-" + strconv.Itoa(len(first)-1) + "/" + strconv.FormatUint(total, 10)}}
		fetcher.Response(t0, hs, body(first))
		if made > maxSize {
			t.Fatalf("made room for %d bytes, max_size is %d", made, maxSize)
		}
		if made > 0 {
			if _, err := p.CheckHeader(first); err != nil {
				t.Fatalf("made room for %d bytes after a header that fails its check: %v", made, err)
			}
		}
	})
}

func snapFuzz(f *testing.F) []byte {
	t := &testing.T{}
	return snap(t, 5, 100, signer, "")
}
