package partition

import (
	"sync"
	"sync/atomic"
)

// A Waiter is woken when any partition it watches changes: its log end
// offset or high watermark moved, its role changed, or it was closed. A
// long-polling Fetch watches every partition it reads, an acks=all Produce
// the partitions it appended to.
//
// Register before checking, so that no change is missed:
//
//	w := partition.NewWaiter()
//	defer w.Stop()
//	w.Watch(p)
//	for !enough() {
//		select { case <-w.C(): case <-ctx.Done(): return }
//	}
//
// Wakeups coalesce: C delivers at most one pending signal. A Waiter is used
// by one goroutine; Stop must be called to unregister it.
type Waiter struct {
	c     chan struct{}
	parts []*Partition
}

// NewWaiter returns a Waiter watching nothing.
func NewWaiter() *Waiter { return &Waiter{c: make(chan struct{}, 1)} }

// C is signalled after a change of a watched partition.
func (w *Waiter) C() <-chan struct{} { return w.c }

// Watch adds p. Watching a closed partition signals C at once.
func (w *Waiter) Watch(p *Partition) {
	p.waiters.add(w)
	w.parts = append(w.parts, p)
}

// Stop unregisters the Waiter from every partition it watches. It is
// idempotent.
func (w *Waiter) Stop() {
	for _, p := range w.parts {
		p.waiters.remove(w)
	}
	w.parts = w.parts[:0]
}

func (w *Waiter) wake() {
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// waiterSet is a partition's registered Waiters. Its mutex is a leaf. n
// counts the registered Waiters so that notify costs one atomic load when
// nobody waits: a Waiter registers (n++) before it reads the partition's
// state and the writer changes the state before it reads n, so one of the
// two sees the other (sync/atomic operations are sequentially consistent).
type waiterSet struct {
	n      atomic.Int32
	mu     sync.Mutex
	set    map[*Waiter]struct{}
	closed bool
}

func (s *waiterSet) add(w *Waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		w.wake()
		return
	}
	if s.set == nil {
		s.set = map[*Waiter]struct{}{}
	}
	if _, ok := s.set[w]; !ok {
		s.set[w] = struct{}{}
		s.n.Add(1)
	}
}

func (s *waiterSet) remove(w *Waiter) {
	s.mu.Lock()
	if _, ok := s.set[w]; ok {
		delete(s.set, w)
		s.n.Add(-1)
	}
	s.mu.Unlock()
}

// notify wakes every registered Waiter.
func (s *waiterSet) notify() {
	if s.n.Load() == 0 {
		return
	}
	s.mu.Lock()
	for w := range s.set {
		w.wake()
	}
	s.mu.Unlock()
}

// close wakes everyone and makes later registrations wake at once.
func (s *waiterSet) close() {
	s.mu.Lock()
	s.closed = true
	for w := range s.set {
		w.wake()
	}
	s.set = nil
	s.n.Store(0)
	s.mu.Unlock()
}

// Watchers returns how many Waiters watch p (a long-polling Fetch or an
// acks=-1 Produce each count one): for metrics and tests.
func (p *Partition) Watchers() int { return int(p.waiters.n.Load()) }
