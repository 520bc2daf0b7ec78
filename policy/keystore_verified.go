package policy

import (
	"github.com/apiguard/apiguard/policy/keysnap"
)

// Verified is a snapshot that a Loader verified and indexed: its bytes, its
// header and the index of its keys, which depend on the snapshot alone.
// Any configuration with the same key store can bind it (Rebind) without
// fetching, hashing or indexing it again. It is immutable.
type Verified struct {
	hdr   keysnap.Header
	index *snapIndex
}

// Header returns the verified snapshot's header.
func (v *Verified) Header() keysnap.Header { return v.hdr }

// Rebind returns a Loader that binds the verified snapshot v to p: it
// checks the header against p's key store (the audience and max_size may
// differ from those v was loaded with) and then only builds the consumers,
// against p's rate limits, quotas and route scopes. Run it to the end with
// Step as any Loader.
func (p *Policy) Rebind(v *Verified) (*Loader, error) {
	if _, err := p.CheckHeader(headerOf(v.index.buf)); err != nil {
		return nil, err
	}
	l := &Loader{base: p, hdr: v.hdr, ix: v.index, indexed: true}
	l.startConsumers()
	return l, nil
}

// Verified returns the verified snapshot once the load succeeded, for
// Rebind.
func (l *Loader) Verified() *Verified {
	if l.out == nil {
		return nil
	}
	return &Verified{hdr: l.hdr, index: l.out.snap}
}
