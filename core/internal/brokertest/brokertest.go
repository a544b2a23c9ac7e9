// Package brokertest holds what the tests of core/broker, core/replica,
// core/group and core/protocol share when they run brokers in process: a
// goroutine-leak check per test, polling until a deadline, a franz-go client with the tests' short metadata age and
// retry backoff, and a steady acks=all producer that records every
// acknowledgement (partition, offset, value, time, in the order they
// arrive) and checks that each acknowledged record is read back at its
// offset.
//
// Only tests import it:
//
//	p := brokertest.ProduceSteadily(t, seeds, topic)
//	// ... move leadership, stop a broker ...
//	if err := p.Stop(); err != nil {
//		t.Fatal(err)
//	}
//	p.CheckReadBack(t, seedsOfTheLive, topic)
package brokertest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

// NewClient returns a client of the brokers at seeds that refreshes its
// metadata after 50 ms and retries after 50 ms, with opts after those;
// it is closed at the end of the test.
func NewClient(t testing.TB, seeds []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.MetadataMinAge(50 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Poll checks cond every 20 ms until it holds, failing the test (with
// what was awaited) once within has passed.
func Poll(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Ack is one acknowledged record.
type Ack struct {
	Partition int32
	Offset    int64
	Value     string
	At        time.Time // when the acknowledgement arrived
}

// Producer produces to one topic with an idempotent acks=all client, a
// record every 2 ms, and records what is acknowledged and what fails.
// Its methods may be called from any goroutine.
type Producer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	once     sync.Once
	flushErr error // of Stop, set once

	mu     sync.Mutex
	acks   []Ack // in the order of the acknowledgements
	failed []error
}

// ProduceSteadily starts producing to topic through the brokers at
// seeds: record i (from 0) has key and value fmt.Sprintf("r%06d", i).
// It produces until Stop or the end of the test, when it is stopped as by
// Stop (a failed flush then fails the test).
func ProduceSteadily(t testing.TB, seeds []string, topic string) *Producer {
	t.Helper()
	cl := NewClient(t, seeds, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithCancel(context.Background())
	p := &Producer{cl: cl, cancel: cancel}
	p.wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			v := fmt.Sprintf("r%06d", i)
			cl.Produce(context.Background(), &kgo.Record{Key: []byte(v), Value: []byte(v)}, p.record)
		}
	})
	// Registered after the client's Close: runs before it.
	t.Cleanup(func() {
		if p.stop() && p.flushErr != nil {
			t.Errorf("flushing the producer at the end of the test: %v", p.flushErr)
		}
	})
	return p
}

// record is the produce callback.
func (p *Producer) record(r *kgo.Record, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failed = append(p.failed, err)
		return
	}
	p.acks = append(p.acks, Ack{Partition: r.Partition, Offset: r.Offset, Value: string(r.Value), At: time.Now()})
}

// Stop stops producing and waits (at most 30 s) for the answer to every
// record produced; it returns the error of that wait. Later calls return
// the same and do nothing.
func (p *Producer) Stop() error {
	p.stop()
	return p.flushErr
}

// stop is Stop, reporting whether this call did it.
func (p *Producer) stop() (did bool) {
	p.once.Do(func() {
		did = true
		p.cancel()
		p.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.cl.Flush(ctx); err != nil {
			p.flushErr = fmt.Errorf("flushing the producer: %w", err)
		}
	})
	return did
}

// Count returns how many records have been acknowledged so far.
func (p *Producer) Count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks)
}

// Acks returns the acknowledgements so far, in the order they arrived.
func (p *Producer) Acks() []Ack {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.acks)
}

// Failed returns the errors of the records that failed so far.
func (p *Producer) Failed() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.failed)
}

// Values returns the acknowledged values of each partition, in the order
// of their acknowledgements.
func (p *Producer) Values() map[int32][]string {
	vs := map[int32][]string{}
	for _, a := range p.Acks() {
		vs[a.Partition] = append(vs[a.Partition], a.Value)
	}
	return vs
}

// CheckReadBack fails the test if a record failed, or if an acknowledged
// record is not read back, from the brokers at seeds, at the offset it was
// acknowledged at. It reads topic from the start until each partition has
// returned every offset up to the highest acknowledged one (at most
// 30 s). Call it after Stop.
func (p *Producer) CheckReadBack(t testing.TB, seeds []string, topic string) {
	t.Helper()
	if failed := p.Failed(); len(failed) > 0 {
		t.Fatalf("%d records failed, first: %v", len(failed), failed[0])
	}
	acks := p.Acks()
	want := map[int32]int{} // offsets to read per partition
	for _, a := range acks {
		want[a.Partition] = max(want[a.Partition], int(a.Offset)+1)
	}
	cl := NewClient(t, seeds, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	got := map[int32]map[int64]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		done := true
		for p, n := range want {
			if len(got[p]) < n {
				done = false
			}
		}
		if done {
			break
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			read := map[int32]int{}
			for p, offs := range got {
				read[p] = len(offs)
			}
			t.Fatalf("consuming %s: read %v offsets per partition, want %v", topic, read, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if got[r.Partition] == nil {
				got[r.Partition] = map[int64]string{}
			}
			got[r.Partition][r.Offset] = string(r.Value)
		})
	}
	for _, a := range acks {
		if v := got[a.Partition][a.Offset]; v != a.Value {
			t.Fatalf("%s-%d offset %d: read %q, acknowledged %q", topic, a.Partition, a.Offset, v, a.Value)
		}
	}
}

// LeakCheck fails the test if goroutines started after its first call
// outlive the test's cleanups: registered first, it runs after every
// cleanup registered later. One check per test, from the first call; a
// later call does nothing, as a second baseline (the goroutines running
// by then) would be checked before the cleanups registered between the
// two calls ran, so a goroutine started after it and stopped by one of
// those (a watch a cluster opens just after it is ready) would count as
// leaked.
func LeakCheck(t testing.TB) {
	t.Helper()
	if _, dup := leakChecked.LoadOrStore(t, true); dup {
		return
	}
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		leakChecked.Delete(t)
		goleak.VerifyNone(t, ignore)
	})
}

// leakChecked holds the tests that have a LeakCheck registered.
var leakChecked sync.Map
