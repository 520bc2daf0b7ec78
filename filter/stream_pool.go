package main

// Reusing HTTP contexts. Allocating an httpContext was the one heap
// allocation of an allowed request, and with it went a share of every
// collection's work: reusing contexts took 0.89–0.99 of each request's
// time in BenchmarkHostAB (docs/performance.md, "Fifth round"). A context is used
// again only once the host has deleted it (proxy_on_delete, which the
// bridge reports after the SDK has dropped the context): from then on no
// callback can reach it. A stream that ends without being deleted, or is
// deleted without having ended, simply leaves its context to the
// collector.

// streamPool holds the contexts of ended streams until the host deletes
// them, and deleted ones until a new stream takes one. One per VM: a VM's
// callbacks never overlap.
type streamPool struct {
	// on is set where the bridge reports deletions (wasip1 builds,
	// stream_pool_wasip1.go); without it nothing is reused.
	on bool
	// ended are the streams that ended (OnHttpStreamDone) and wait for
	// their deletion, a ring: next is the oldest, overwritten (and left
	// to the collector) when more streams end before theirs are deleted.
	ended [endedStreams]endedStream
	next  int
	// free are deleted contexts, zeroed, ready to serve a stream.
	free []*httpContext
}

// endedStream is an ended stream's context and the host's id for it.
type endedStream struct {
	id uint32
	h  *httpContext
}

const (
	// endedStreams is how many ended streams may wait for their deletion;
	// Envoy deletes a stream's context soon after its end.
	endedStreams = 8
	// freeContexts is how many deleted contexts are kept for new streams.
	freeContexts = 16
)

// streams is the VM's pool.
var streams = streamPool{free: make([]*httpContext, 0, freeContexts)}

// get returns a zero context: a deleted one, or a new one.
func (s *streamPool) get() *httpContext {
	if n := len(s.free); n > 0 {
		h := s.free[n-1]
		s.free[n-1] = nil
		s.free = s.free[:n-1]
		return h
	}
	return new(httpContext)
}

// streamEnded records that the stream of context id, served by h, ended.
func (s *streamPool) streamEnded(id uint32, h *httpContext) {
	if !s.on {
		return
	}
	s.ended[s.next] = endedStream{id: id, h: h}
	s.next = (s.next + 1) % endedStreams
}

// deleted is called when the host has deleted context id: an ended
// stream's context is zeroed and kept for a new stream.
func (s *streamPool) deleted(id uint32) {
	for i := range s.ended {
		e := &s.ended[i]
		if e.h == nil || e.id != id {
			continue
		}
		h := e.h
		*e = endedStream{}
		if len(s.free) < freeContexts {
			*h = httpContext{}
			s.free = append(s.free, h)
		}
		return
	}
}
