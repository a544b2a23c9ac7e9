package server

import "sync"

// produceKey is the Produce API. Its frames are recycled: the Produce
// handler copies the record batches into the log and keeps nothing of the
// request once it answered (core/protocol/00_produce.go), so a frame can
// serve the next request once its response is out. Other requests' frames
// may be kept by their handlers (group metadata, for one) and are left to
// the garbage collector.
const produceKey = 0

// minPooledFrame is the smallest frame taken from the pool: small frames
// are cheap to allocate, and a large pooled buffer is not wasted on one.
const minPooledFrame = 64 << 10

// framePool holds frame buffers of answered Produce requests (*[]byte).
// The pool lets the garbage collector drop them when idle; it saves the
// zeroing of a fresh buffer per request (about 1 MiB each at full rate)
// and the collections those allocations cause.
var framePool sync.Pool

// getFrame returns a buffer of size bytes with any content, from the pool
// when one there is large enough.
func getFrame(size int) []byte {
	if size < minPooledFrame {
		return make([]byte, size)
	}
	if bp, ok := framePool.Get().(*[]byte); ok && cap(*bp) >= size {
		return (*bp)[:size]
	}
	return make([]byte, size)
}

// putFrame gives a frame no longer referenced back to the pool.
func putFrame(b []byte) {
	if cap(b) < minPooledFrame {
		return
	}
	framePool.Put(&b)
}
