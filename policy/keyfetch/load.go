// Checking an answer's signed header, loading it over ticks, and the swap.

package keyfetch

import (
	"strconv"
	"time"

	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keysnap"
)

// checkHeader checks the first bytes of an answer and the generation they
// announce; ok is false when the fetch ends here.
func (f *Fetcher) checkHeader(a *Actions, body Body, etag string) (h keysnap.Header, ok bool) {
	pre, err := body.Read(0, min(body.Size(), keysnap.MaxHeaderSize))
	if err != nil {
		f.outcome(a, Failed, 0, "reading the response body: "+err.Error())
		return h, false
	}
	c, err := f.base.CheckFirst(pre)
	if err != nil {
		f.reject(a, err)
		return h, false
	}
	h, f.checked = c.Header(), c
	if f.loaded && h.Generation == f.gen && h.Digest == f.digest {
		f.etag = etag
		f.outcome(a, Unchanged, 0, "")
		return h, false
	}
	fg, fd, known := f.floor.Get()
	if f.loaded && (!known || f.gen > fg) {
		fg, fd, known = f.gen, f.digest, true
	}
	switch {
	case known && h.Generation < fg:
		f.reject(a, &policy.LoadError{Cause: policy.CauseOlderGeneration, Msg: "generation " +
			strconv.FormatUint(h.Generation, 10) + " is older than generation " + strconv.FormatUint(fg, 10) +
			", which this proxy has enforced already"})
		return h, false
	case known && h.Generation == fg && h.Digest != fd:
		f.reject(a, &policy.LoadError{Cause: policy.CauseOlderGeneration, Msg: "generation " +
			strconv.FormatUint(h.Generation, 10) + " was enforced already with other content"})
		return h, false
	}
	return h, true
}

func (f *Fetcher) startLoad(a *Actions, now time.Time, buf *keysnap.Buffer, etag string) {
	// The header checked on the first bytes is not checked again.
	l, err := f.base.NewCheckedLoader(buf, f.inUse, f.checked)
	f.checked = nil
	if err != nil {
		f.reject(a, err)
		return
	}
	f.loader, f.loaderETag, f.loadStarted, f.announced = l, etag, now, false
	f.state = Loading
	if time.Since(now) >= LoadBudget/2 {
		// Reading the last range and checking the header took this
		// callback's share: the load starts at the next tick, since a step
		// does at least one unit of work.
		f.announced = true
		f.log(a, Info, "loading generation "+strconv.FormatUint(l.Header().Generation, 10)+" over several ticks")
		return
	}
	f.step(a, now)
}

// step advances the load by what is left of LoadBudget since began.
func (f *Fetcher) step(a *Actions, began time.Time) {
	l := f.loader
	if !l.Step(LoadBudget - time.Since(began)) {
		if !f.announced {
			f.announced = true
			f.log(a, Info, "loading generation "+strconv.FormatUint(l.Header().Generation, 10)+" over several ticks")
		}
		return
	}
	f.loader, f.state = nil, Idle
	if err := l.Err(); err != nil {
		f.reject(a, err)
		return
	}
	h := l.Header()
	if fg, fd, ok := f.floor.Get(); ok && (h.Generation < fg || h.Generation == fg && h.Digest != fd) {
		f.reject(a, &policy.LoadError{Cause: policy.CauseOlderGeneration, Msg: "generation " +
			strconv.FormatUint(h.Generation, 10) + " is not newer than generation " + strconv.FormatUint(fg, 10) +
			", enforced while it loaded"})
		return
	}
	f.swap(a, l, f.loaderETag)
	st := l.Stats()
	f.outcome(a, Loaded, 0, "")
	f.log(a, Info, "loaded generation "+strconv.FormatUint(h.Generation, 10)+" ("+
		strconv.FormatUint(uint64(h.Consumers), 10)+" consumers, "+strconv.FormatUint(uint64(h.Keys), 10)+" keys, "+
		strconv.FormatUint(h.Total(), 10)+" bytes, built "+h.CreatedTime().Format(time.RFC3339)+") in "+
		time.Since(f.loadStarted).Round(time.Millisecond).String()+": verify "+st.Verify.Round(time.Microsecond).String()+
		", index "+st.Index.Round(time.Microsecond).String()+", "+strconv.Itoa(st.Steps)+" steps")
}

// swap makes the loader's result the snapshot in use.
func (f *Fetcher) swap(a *Actions, l *policy.Loader, etag string) {
	h := l.Header()
	a.Swap, a.Verified = l.Policy(), l.Verified()
	f.inUse = a.Swap
	f.loaded, f.gen, f.digest, f.created, f.etag = true, h.Generation, h.Digest, h.Created, etag
	f.floor.Raise(h.Generation, h.Digest)
}
