// The HTTP side of a fetch: the calls, whole and ranged answers, restarts.

package keyfetch

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keysnap"
)

func (f *Fetcher) fetch(a *Actions, now time.Time) {
	f.parts, f.partsETag = nil, ""
	f.call(a, now)
}

// call asks for the snapshot, or for its next range: the first request
// with If-None-Match (when a snapshot is in use), the next ones with
// If-Range, so that a snapshot replaced meanwhile comes whole (200) and
// the fetch restarts instead of mixing parts.
func (f *Fetcher) call(a *Actions, now time.Time) {
	offset := 0
	if f.parts != nil {
		offset = f.parts.Len()
	}
	hs := [][2]string{{":method", "GET"}, {":path", f.cfg.Path}, {":authority", f.cfg.Authority},
		{"accept", "application/octet-stream"}}
	f.sentINM = offset == 0 && f.etag != ""
	if f.sentINM {
		hs = append(hs, [2]string{"if-none-match", f.etag})
	}
	if n := f.cfg.ChunkSize; n > 0 {
		hs = append(hs, [2]string{"range", "bytes=" + strconv.Itoa(offset) + "-" + strconv.Itoa(offset+n-1)})
		if offset > 0 && f.partsETag != "" {
			hs = append(hs, [2]string{"if-range", f.partsETag})
		}
	}
	a.Call = &Call{Headers: hs, Timeout: f.cfg.Timeout}
	f.state, f.since = Requesting, now
}

// CallFailed is Response for a call the host refused to make.
func (f *Fetcher) CallFailed(err error) Actions {
	var a Actions
	f.state, f.parts = Idle, nil
	f.outcome(&a, Failed, 0, "cannot call cluster "+strconv.Quote(f.cfg.Cluster)+": "+err.Error())
	f.settle(&a)
	return a
}

// Response handles the answer to the call in flight: headers is nil for a
// failed call (refused, reset, timed out).
func (f *Fetcher) Response(now time.Time, headers policy.HeaderList, body Body) Actions {
	var a Actions
	if f.state != Requesting {
		return a // an answer to a call dropped by Reset
	}
	f.state = Idle
	f.respond(&a, now, headers, body)
	f.settle(&a)
	return a
}

func (f *Fetcher) respond(a *Actions, now time.Time, hs policy.HeaderList, body Body) {
	if hs == nil {
		f.parts = nil
		f.outcome(a, Failed, 0, "no response from cluster "+strconv.Quote(f.cfg.Cluster)+
			" (connection refused or reset, or no answer within "+f.cfg.Timeout.String()+")")
		return
	}
	status, _ := hs.Get(":status")
	etag, _ := hs.Get("etag")
	ranged := f.parts != nil
	switch {
	case status == "304" && f.sentINM:
		f.outcome(a, NotModified, 0, "")
	case status == "304":
		f.parts = nil
		f.outcome(a, Failed, 0, "the key store answered 304 Not Modified to a request without If-None-Match")
	case status == "200" && ranged:
		f.restart(a, "the key store answered 200 to a range request with If-Range: the snapshot changed")
	case status == "200":
		f.whole(a, now, etag, body)
	case status == "206" && ranged:
		f.nextRange(a, now, hs, etag, body)
	case status == "206":
		f.firstRange(a, now, hs, etag, body)
	default:
		f.parts = nil
		f.outcome(a, HTTPError, 0, "the key store answered status "+strconv.Quote(status))
	}
}

// whole handles a snapshot answered in one 200.
func (f *Fetcher) whole(a *Actions, now time.Time, etag string, body Body) {
	h, ok := f.checkHeader(a, body, etag)
	if !ok {
		return
	}
	if n := uint64(body.Size()); n != h.Total() {
		cause := policy.CauseCorrupt
		if n < h.Total() {
			cause = policy.CauseTruncated
		}
		f.reject(a, &policy.LoadError{Cause: cause, Msg: "the body has " + strconv.FormatUint(n, 10) +
			" bytes, the signed header announces " + strconv.FormatUint(h.Total(), 10)})
		return
	}
	buf := newBuffer(body.Size())
	if err := f.fill(buf, body); err != nil {
		f.outcome(a, Failed, 0, "reading the response body: "+err.Error())
		return
	}
	f.startLoad(a, now, buf, etag)
}

// firstRange handles the first range of a ranged fetch.
func (f *Fetcher) firstRange(a *Actions, now time.Time, hs policy.HeaderList, etag string, body Body) {
	cr, _ := hs.Get("content-range")
	first, last, total, ok := parseContentRange(cr)
	if !ok || first != 0 || last-first+1 != body.Size() || body.Size() < min(total, keysnap.MaxHeaderSize) {
		f.outcome(a, HTTPError, 0, "the key store answered 206 with content-range "+strconv.Quote(cr)+
			" for "+strconv.Itoa(body.Size())+" bytes to the first range")
		return
	}
	h, ok := f.checkHeader(a, body, etag)
	if !ok {
		return
	}
	if uint64(total) != h.Total() {
		f.reject(a, &policy.LoadError{Cause: policy.CauseCorrupt, Msg: "content-range announces " + strconv.Itoa(total) +
			" bytes, the signed header " + strconv.FormatUint(h.Total(), 10)})
		return
	}
	// The signed header sized this; it fits key_store.max_size.
	f.parts, f.partsETag = newBuffer(total), etag
	f.appendRange(a, now, body)
}

// nextRange handles a later range of a ranged fetch.
func (f *Fetcher) nextRange(a *Actions, now time.Time, hs policy.HeaderList, etag string, body Body) {
	if !sameStrongETag(f.partsETag, etag) {
		f.restart(a, "range at "+strconv.Itoa(f.parts.Len())+" has ETag "+strconv.Quote(etag)+", the first range had "+
			strconv.Quote(f.partsETag))
		return
	}
	cr, _ := hs.Get("content-range")
	first, last, total, ok := parseContentRange(cr)
	if !ok || first != f.parts.Len() || total != f.parts.Total() || last-first+1 != body.Size() {
		at := f.parts.Len()
		f.parts = nil
		f.outcome(a, HTTPError, 0, "the key store answered 206 with content-range "+strconv.Quote(cr)+
			" for "+strconv.Itoa(body.Size())+" bytes at offset "+strconv.Itoa(at))
		return
	}
	f.appendRange(a, now, body)
}

// sameStrongETag reports whether a later range may join the first: both
// carry the same strong ETag, or neither carries one (the signed digest
// then decides).
func sameStrongETag(first, later string) bool {
	if first == "" {
		return later == ""
	}
	return first == later && !strings.HasPrefix(first, "W/")
}

func (f *Fetcher) appendRange(a *Actions, now time.Time, body Body) {
	if err := f.fill(f.parts, body); err != nil {
		f.parts = nil
		f.outcome(a, Failed, 0, "reading the response body: "+err.Error())
		return
	}
	if f.parts.Len() < f.parts.Total() {
		f.state = Pending // the next range at the next tick, once this callback ended
		return
	}
	buf, etag := f.parts, f.partsETag
	f.parts, f.partsETag, f.restarts = nil, "", 0
	f.startLoad(a, now, buf, etag)
}

// newBuffer makes the room for a snapshot of total bytes, once its signed
// header announced that size (a variable, so that a test sees every room
// made).
var newBuffer = keysnap.NewBuffer

// fill appends body to buf, a segment at a time: the host writes straight
// into the segment where it can, else the data is copied.
func (f *Fetcher) fill(buf *keysnap.Buffer, body Body) error {
	n := body.Size()
	if n > buf.Total()-buf.Len() {
		return errors.New("the body has more bytes than the snapshot has left")
	}
	for off := 0; off < n; {
		room, free := buf.Room()
		k := min(n-off, free)
		data, err := body.ReadInto(room, off, k)
		switch {
		case err != nil:
			return err
		case len(data) != k:
			return errors.New("read " + strconv.Itoa(len(data)) + " of " + strconv.Itoa(k) + " bytes")
		case k > 0 && &data[0] == &room[:1][0]:
			buf.Wrote(k) // written in place
		default:
			buf.Append(data)
		}
		off += k
	}
	if buf.Len() == buf.Total() {
		buf.Seal()
	}
	return nil
}

// restart starts a ranged fetch over, or gives up until the next refresh
// after MaxRestarts in a row.
func (f *Fetcher) restart(a *Actions, why string) {
	f.parts, f.partsETag = nil, ""
	f.restarts++
	if f.restarts > MaxRestarts {
		f.restarts = 0
		f.outcome(a, HTTPError, 0, "the snapshot changed during "+strconv.Itoa(MaxRestarts+1)+
			" ranged fetches in a row ("+why+"); trying again at the next refresh")
		return
	}
	f.state = Pending
	f.outcome(a, Restarted, 0, "")
	f.log(a, Info, "key store: restarting the fetch from byte 0: "+why)
}

// parseContentRange parses "bytes FIRST-LAST/TOTAL".
func parseContentRange(v string) (first, last, total int, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	a, b, found2 := strings.Cut(rng, "-")
	if !found || !found2 {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	first, err1 = strconv.Atoi(a)
	last, err2 = strconv.Atoi(b)
	total, err3 = strconv.Atoi(tot)
	if err1 != nil || err2 != nil || err3 != nil || first < 0 || last < first || last >= total {
		return 0, 0, 0, false
	}
	return first, last, total, true
}
