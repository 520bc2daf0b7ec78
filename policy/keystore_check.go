package policy

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/apiguard/apiguard/policy/keysnap"
)

// CheckHeader checks a snapshot's header from prefix, which holds at least
// the header (keysnap.MaxHeaderSize bytes, or the whole snapshot when it is
// shorter) and may hold more: the format, the signature against the
// key_store's public key, the audience, and that the size the signed header
// announces fits key_store.max_size. A filter calls it on the first range
// of a fetch, before it allocates room for the rest: nothing the store
// sends sizes memory before the signature holds. The error is a
// *LoadError.
func (p *Policy) CheckHeader(prefix []byte) (keysnap.Header, error) {
	ks := p.keyStore
	if ks == nil {
		return keysnap.Header{}, errors.New("policy: the configuration has no key_store")
	}
	h, err := keysnap.ParseHeaderPrefix(prefix)
	if err != nil {
		return h, loadError(err)
	}
	if ks.PublicKey != nil {
		if err := keysnap.VerifySignature(prefix, &h, ks.PublicKey); err != nil {
			return h, loadError(err)
		}
	} else if !ks.AllowUnsigned {
		return h, &LoadError{Cause: CauseUnsigned, Msg: "no public key configured"}
	}
	if h.Audience != ks.Audience {
		return h, &LoadError{Cause: CauseWrongAudience, Msg: "the snapshot is for audience " + quote(h.Audience) +
			", the key_store's audience is " + quote(ks.Audience)}
	}
	if h.Total() > uint64(ks.MaxSize) {
		return h, &LoadError{Cause: CauseTooLarge, Msg: "the snapshot has " + strconv.FormatUint(h.Total(), 10) +
			" bytes, more than key_store.max_size (" + strconv.FormatInt(ks.MaxSize, 10) + ")"}
	}
	return h, nil
}

// Checked is a snapshot header that CheckFirst accepted for a policy,
// with the bytes it was read from. A loader of that policy given it
// (NewCheckedLoader) checks that its snapshot starts with the same bytes
// instead of verifying the signature a second time: the check depends on
// the policy and those bytes alone.
type Checked struct {
	base *Policy
	hdr  keysnap.Header
	raw  []byte // the header's bytes, a copy
}

// Header returns the checked header.
func (c *Checked) Header() keysnap.Header { return c.hdr }

// CheckFirst is CheckHeader for the first bytes of a fetch, returning what
// NewCheckedLoader needs to trust the header of the whole snapshot.
func (p *Policy) CheckFirst(prefix []byte) (*Checked, error) {
	h, err := p.CheckHeader(prefix)
	if err != nil {
		return nil, err
	}
	return &Checked{base: p, hdr: h, raw: append([]byte(nil), prefix[:h.Size]...)}, nil
}

// of returns the header of the snapshot in buf when it is the checked one:
// when c was checked for p and buf starts with the same bytes.
func (c *Checked) of(p *Policy, buf *keysnap.Buffer) (keysnap.Header, bool) {
	if c == nil || c.base != p || buf.Total() < len(c.raw) || !bytes.Equal(buf.Slice(0, len(c.raw)), c.raw) {
		return keysnap.Header{}, false
	}
	return c.hdr, true
}
