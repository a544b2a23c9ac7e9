package etcdmeta_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	etcdmeta "github.com/chronik-go/chronik/metadata-etcd"
	"github.com/chronik-go/chronik/metadata-etcd/internal/etcdtest"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// testLogger logs at debug to stderr when CHRONIK_TEST_LOG is set, else
// discards.
func testLogger() *slog.Logger {
	if os.Getenv("CHRONIK_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newBackend starts a backend on endpoints with the given prefix, closed by
// the test's cleanup.
func newBackend(t testing.TB, endpoints []string, prefix string, mods ...func(*etcdmeta.Config)) *etcdmeta.Backend {
	t.Helper()
	cfg := etcdmeta.DefaultConfig()
	cfg.NodeID = fmt.Sprintf("node-%d", time.Now().UnixNano()%1000)
	cfg.Endpoints = endpoints
	cfg.Prefix = prefix
	cfg.SessionTimeout = time.Second
	cfg.Logger = testLogger()
	for _, m := range mods {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := etcdmeta.New(ctx, cfg)
	if err != nil {
		t.Fatalf("etcdmeta.New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls f until it returns nil or d elapses.
func eventually(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startEtcd(t testing.TB, members int) *etcdtest.Cluster {
	t.Helper()
	return etcdtest.Start(t, etcdtest.Options{Members: members})
}

func reg(id int32, inc string) metadata.BrokerRegistration {
	return metadata.BrokerRegistration{ID: id, IncarnationID: inc,
		Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id}}, Rack: "r1"}
}

func spec(name string, partitions int) metadata.TopicSpec {
	s := metadata.TopicSpec{Name: name, Configs: map[string]string{"retention.ms": "1000"}}
	copy(s.ID[:], strings.Repeat("x", 16))
	s.ID[0] = byte(len(name))
	for p := range partitions {
		r := []int32{int32(p % 3), int32((p + 1) % 3), int32((p + 2) % 3)}
		s.Partitions = append(s.Partitions, metadata.PartitionSpec{Replicas: r, Leader: r[0]})
	}
	return s
}

// watcher collects one Watch stream on its own goroutine; the test's
// cleanup cancels it and waits.
type watcher struct {
	t      testing.TB
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	batches []metadata.WatchBatch
	errb    error
	closed  bool
}

func watch(t testing.TB, b metadata.Backend, from metadata.Revision) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := b.Watch(ctx, from)
	if err != nil {
		cancel()
		t.Fatalf("Watch(%d): %v", from, err)
	}
	w := &watcher{t: t, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for batch := range ch {
			w.mu.Lock()
			w.batches = append(w.batches, batch)
			if batch.Err != nil {
				w.errb = batch.Err
			}
			w.mu.Unlock()
		}
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(5 * time.Second):
			t.Errorf("watch channel not closed 5s after cancel")
		}
	})
	return w
}

func (w *watcher) snapshot() ([]metadata.WatchBatch, error, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.batches), w.errb, w.closed
}

// until waits for a batch at or after rev and returns every batch so far;
// an Err batch fails the test.
func (w *watcher) until(rev metadata.Revision, within time.Duration) []metadata.WatchBatch {
	w.t.Helper()
	var out []metadata.WatchBatch
	eventually(w.t, within, fmt.Sprintf("watch delivering revision %d", rev), func() error {
		bs, errb, closed := w.snapshot()
		if errb != nil {
			w.t.Fatalf("watch ended with %v", errb)
		}
		if n := len(bs); n > 0 && bs[n-1].Revision >= rev {
			out = bs
			return nil
		}
		if closed {
			w.t.Fatalf("watch closed after %d batches", len(bs))
		}
		return fmt.Errorf("%d batches", len(bs))
	})
	return out
}

// events returns every event delivered so far matching pred, with its
// batch's revision.
func (w *watcher) events(pred func(metadata.Event) bool) (evs []metadata.Event, revs []metadata.Revision) {
	bs, _, _ := w.snapshot()
	for _, b := range bs {
		for _, e := range b.Events {
			if pred(e) {
				evs = append(evs, e)
				revs = append(revs, b.Revision)
			}
		}
	}
	return evs, revs
}

// replay applies bs to a copy of st and compares the result with want
// (a Snapshot at want.Revision).
func replay(t testing.TB, what string, st metadata.State, bs []metadata.WatchBatch, want metadata.State) {
	t.Helper()
	s := st.Clone()
	for _, b := range bs {
		if b.Revision > want.Revision {
			break
		}
		if err := s.Apply(b); err != nil {
			t.Fatalf("%s: applying revision %d: %v", what, b.Revision, err)
		}
	}
	s.Revision = want.Revision
	if !reflect.DeepEqual(canon(s), canon(want)) {
		t.Fatalf("%s: replayed state differs from the snapshot at %d:\n got %+v\nwant %+v", what, want.Revision, s, want)
	}
}

// canon makes empty and nil collections alike.
func canon(st metadata.State) metadata.State {
	c := st.Clone()
	for id, b := range c.Brokers {
		if len(b.Listeners) == 0 {
			b.Listeners = nil
		}
		c.Brokers[id] = b
	}
	for n, tp := range c.Topics {
		if len(tp.Configs) == 0 {
			tp.Configs = nil
		}
		for i, p := range tp.Partitions {
			if len(p.ISR) == 0 {
				p.ISR = nil
			}
			if len(p.Replicas) == 0 {
				p.Replicas = nil
			}
			tp.Partitions[i] = p
		}
		c.Topics[n] = tp
	}
	return c
}

// heartbeater heartbeats (id, epoch) every interval through the backends
// in turn until the test ends or stop is called; failures other than
// ErrUnavailable are recorded.
type heartbeater struct {
	stop func()
	mu   sync.Mutex
	errs []error
	ok   int
}

func keepAlive(t testing.TB, bs []metadata.Backend, id int32, epoch int64, interval time.Duration) *heartbeater {
	h := &heartbeater{}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for k := 0; ; k++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := bs[k%len(bs)].Heartbeat(ctx, id, epoch)
			cancel()
			h.mu.Lock()
			switch {
			case err == nil:
				h.ok++
			case !errors.Is(err, metadata.ErrUnavailable):
				h.errs = append(h.errs, err)
			}
			h.mu.Unlock()
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			close(quit)
			<-done
		})
	}
	t.Cleanup(h.stop)
	return h
}

func (h *heartbeater) failures() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.errs)
}

func isFence(id int32) func(metadata.Event) bool {
	return func(e metadata.Event) bool { return e.Type == metadata.EventBrokerFenced && e.Broker.ID == id }
}
