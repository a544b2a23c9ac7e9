package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Timing of the suite. A call the contract says must succeed gets
// opTimeout; anything that must become visible (a watch event, a fence)
// gets a deadline derived from these; "promptly" is for things that must
// happen without waiting on anything (a cancelled stream closing, a call
// with an expired context failing).
const (
	opTimeout     = 10 * time.Second
	deliverWithin = 5 * time.Second
	promptly      = time.Second
	pollInterval  = 5 * time.Millisecond
	// recoverWithin bounds how long a cluster may take to serve again after
	// a restart or the loss of its leader.
	recoverWithin = 20 * time.Second
)

// env is one check's cluster plus the helpers the checks share.
type env struct {
	t    T
	c    Cluster
	opts Options
	ctx  context.Context // ends when t's cleanups run
	seq  atomic.Int32    // hands out unique broker ids and names
}

// start starts a fresh cluster for a check.
func start(t T, h Harness, opts Options) *env {
	t.Helper()
	c := h.Start(t, opts)
	if c == nil {
		t.Fatalf("harness %s: Start returned no cluster", h.Name())
	}
	if c.N() != opts.Nodes {
		t.Fatalf("harness %s: Start(Nodes: %d) returned a cluster of %d nodes", h.Name(), opts.Nodes, c.N())
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{t: t, c: c, opts: opts, ctx: ctx}
	e.seq.Store(1000)
	return e
}

// call returns a context for one call that must succeed.
func (e *env) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, opTimeout)
}

func (e *env) node(i int) metadata.Backend { return e.c.Node(i) }

// fenceDeadline is how long after its last heartbeat a broker may stay
// unfenced: the session timeout plus slack for the backend's reaper tick and
// the commit.
func (e *env) fenceDeadline() time.Duration {
	return 2*e.opts.SessionTimeout + 3*time.Second
}

// heartbeatInterval is how often the checks heartbeat a live broker: a
// quarter of the session timeout, so that a late tick or two never fences
// a well-behaved broker.
func (e *env) heartbeatInterval() time.Duration {
	return e.opts.SessionTimeout / 4
}

func (e *env) register(node int, id int32, inc string) metadata.Broker {
	e.t.Helper()
	ctx, cancel := e.call()
	defer cancel()
	reg := brokerReg(id, inc)
	b, err := e.node(node).RegisterBroker(ctx, reg)
	if err != nil {
		e.t.Fatalf("node %d: RegisterBroker(id %d, incarnation %s): %v", node, id, inc, err)
	}
	if b.ID != id || b.IncarnationID != inc || b.Fenced || b.Epoch <= 0 {
		e.t.Fatalf("node %d: RegisterBroker(id %d, incarnation %s) returned %+v; want that id and incarnation, unfenced, epoch > 0", node, id, inc, b)
	}
	if !reflect.DeepEqual(canonListeners(b.Listeners), canonListeners(reg.Listeners)) || b.Rack != reg.Rack {
		e.t.Errorf("node %d: RegisterBroker(id %d) returned listeners %+v rack %q; registered %+v rack %q", node, id, b.Listeners, b.Rack, reg.Listeners, reg.Rack)
	}
	return b
}

func (e *env) heartbeat(node int, id int32, epoch int64) {
	e.t.Helper()
	ctx, cancel := e.call()
	defer cancel()
	res, err := e.node(node).Heartbeat(ctx, id, epoch)
	if err != nil {
		e.t.Fatalf("node %d: Heartbeat(id %d, epoch %d): %v", node, id, epoch, err)
	}
	if res.Epoch != epoch || res.SessionTimeout <= 0 {
		e.t.Fatalf("node %d: Heartbeat(id %d, epoch %d) returned %+v; want the same epoch and a positive session timeout", node, id, epoch, res)
	}
}

func (e *env) createTopic(node int, spec metadata.TopicSpec) metadata.Topic {
	e.t.Helper()
	ctx, cancel := e.call()
	defer cancel()
	tp, err := e.node(node).CreateTopic(ctx, spec)
	if err != nil {
		e.t.Fatalf("node %d: CreateTopic(%q): %v", node, spec.Name, err)
	}
	checkCreatedTopic(e.t, fmt.Sprintf("node %d: CreateTopic(%q)", node, spec.Name), spec, tp)
	return tp
}

func (e *env) deleteTopic(node int, name string) {
	e.t.Helper()
	ctx, cancel := e.call()
	defer cancel()
	if err := e.node(node).DeleteTopic(ctx, name); err != nil {
		e.t.Fatalf("node %d: DeleteTopic(%q): %v", node, name, err)
	}
}

func (e *env) alter(node int, ch metadata.PartitionChange) metadata.Partition {
	e.t.Helper()
	ctx, cancel := e.call()
	defer cancel()
	p, err := e.node(node).AlterPartition(ctx, ch)
	if err != nil {
		e.t.Fatalf("node %d: AlterPartition(%s/%d, expected epoch %d, leader %d, isr %v): %v",
			node, ch.Topic, ch.Partition, ch.ExpectedPartitionEpoch, ch.Leader, ch.ISR, err)
	}
	return p
}

func (e *env) allocate(node, n int) int64 {
	e.t.Helper()
	ctx, cancel := e.call()
	defer cancel()
	first, err := e.node(node).AllocateProducerIDs(ctx, n)
	if err != nil {
		e.t.Fatalf("node %d: AllocateProducerIDs(%d): %v", node, n, err)
	}
	if first < 0 {
		e.t.Fatalf("node %d: AllocateProducerIDs(%d) returned negative first id %d", node, n, first)
	}
	return first
}

func (e *env) snapshot(node int) metadata.State {
	e.t.Helper()
	ctx, cancel := e.call()
	defer cancel()
	st, err := e.node(node).Snapshot(ctx)
	if err != nil {
		e.t.Fatalf("node %d: Snapshot: %v", node, err)
	}
	return st
}

func (e *env) info(node int) metadata.Info {
	e.t.Helper()
	ctx, cancel := e.call()
	defer cancel()
	in, err := e.node(node).Info(ctx)
	if err != nil {
		e.t.Fatalf("node %d: Info: %v", node, err)
	}
	return in
}

// marker commits a small change (a producer id allocation) through node and
// returns the revision it must have at least: the revision of a Snapshot
// taken after it. Used to know that a stream has delivered everything up to
// some point, as a stream only proves progress by delivering something.
func (e *env) marker(node int) metadata.Revision {
	e.t.Helper()
	e.allocate(node, 1)
	return e.snapshot(node).Revision
}

// leaderIndex returns the index of the node every node's Info names as the
// leader, or -1 if the backend names none. It fails the check if the nodes
// disagree on node ids or the leader is not one of them.
func (e *env) leaderIndex() int {
	e.t.Helper()
	ids := make([]string, e.c.N())
	leader := ""
	for i := range ids {
		in := e.info(i)
		if in.NodeID == "" {
			e.t.Fatalf("node %d: Info has an empty NodeID", i)
		}
		ids[i] = in.NodeID
		if in.Leader != "" {
			leader = in.Leader
		}
	}
	if leader == "" {
		return -1
	}
	i := slices.Index(ids, leader)
	if i < 0 {
		e.t.Fatalf("Info names leader %q, which is none of the nodes %v", leader, ids)
	}
	return i
}

// eventually calls f until it returns nil or within elapses, then fails the
// check with f's last error. An error made by permanent fails it at once.
func eventually(t T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		var perm permanentError
		if errors.As(err, &perm) {
			t.Fatalf("%s: %v", what, perm.err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v: %v", what, within, err)
		}
		time.Sleep(pollInterval)
	}
}

// collector reads one watch stream on its own goroutine and keeps every
// batch. The check owns it: stop (or t's cleanup) cancels the stream and
// waits for the goroutine.
type collector struct {
	t    T
	node int
	from metadata.Revision

	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	batches []metadata.WatchBatch
	errb    error // the Err of the last batch, if any
	closed  bool
	closeAt time.Time
}

// watch starts a stream on node from rev; a Watch error fails the check.
func (e *env) watch(node int, from metadata.Revision) *collector {
	e.t.Helper()
	w, err := e.tryWatch(node, from)
	if err != nil {
		e.t.Fatalf("node %d: Watch(from %d): %v", node, from, err)
	}
	return w
}

// tryWatch starts a stream on node from rev, returning Watch's error.
func (e *env) tryWatch(node int, from metadata.Revision) (*collector, error) {
	ctx, cancel := context.WithCancel(e.ctx)
	ch, err := e.node(node).Watch(ctx, from)
	if err != nil {
		cancel()
		return nil, err
	}
	if ch == nil {
		cancel()
		return nil, fmt.Errorf("Watch returned a nil channel and no error")
	}
	w := &collector{t: e.t, node: node, from: from, cancel: cancel, done: make(chan struct{})}
	go w.loop(ch)
	e.t.Cleanup(func() { w.stop() })
	return w, nil
}

func (w *collector) loop(ch <-chan metadata.WatchBatch) {
	defer close(w.done)
	for b := range ch {
		w.mu.Lock()
		w.batches = append(w.batches, b)
		if b.Err != nil {
			w.errb = b.Err
		}
		w.mu.Unlock()
	}
	w.mu.Lock()
	w.closed = true
	w.closeAt = time.Now()
	w.mu.Unlock()
}

// stop cancels the stream and waits (boundedly) for it to close.
func (w *collector) stop() { w.stopWithin(deliverWithin) }

// stopWithin cancels the stream and waits up to d for its channel to
// close; it fails the check (and reports false) if it does not.
func (w *collector) stopWithin(d time.Duration) bool {
	w.cancel()
	select {
	case <-w.done:
		return true
	case <-time.After(d):
		w.t.Errorf("node %d: watch from %d: channel not closed %v after its context was cancelled", w.node, w.from, d)
		return false
	}
}

// snapshotBatches returns a copy of what the stream delivered so far.
func (w *collector) snapshotBatches() (bs []metadata.WatchBatch, errb error, closed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.batches), w.errb, w.closed
}

// until waits until the stream delivered a batch with revision >= rev and
// returns every batch so far. It fails the check on an Err batch, a closed
// channel or the deadline.
func (w *collector) until(rev metadata.Revision, within time.Duration) []metadata.WatchBatch {
	w.t.Helper()
	bs, err := w.untilErr(rev, within)
	if err != nil {
		w.t.Fatalf("node %d: watch from %d delivering revision %d: %v", w.node, w.from, rev, err)
	}
	return bs
}

// errStreamEnded is the error of untilErr when the stream ended with an Err
// batch; it wraps the batch's Err.
var errStreamEnded = errors.New("stream ended with an Err batch")

// untilErr is until returning, rather than reporting, a failure: the
// batches so far and an error wrapping errStreamEnded and the Err batch's
// error, or describing a closed channel or the deadline.
func (w *collector) untilErr(rev metadata.Revision, within time.Duration) ([]metadata.WatchBatch, error) {
	deadline := time.Now().Add(within)
	for {
		bs, errb, closed := w.snapshotBatches()
		if errb != nil {
			return bs, fmt.Errorf("%w: %w", errStreamEnded, errb)
		}
		if n := len(bs); n > 0 && bs[n-1].Revision >= rev {
			return bs, nil
		}
		last := metadata.Revision(0)
		if n := len(bs); n > 0 {
			last = bs[n-1].Revision
		}
		if closed {
			return bs, fmt.Errorf("channel closed after %d batches (last revision %d)", len(bs), last)
		}
		if time.Now().After(deadline) {
			return bs, fmt.Errorf("not delivered within %v: %d batches, last revision %d", within, len(bs), last)
		}
		time.Sleep(pollInterval)
	}
}

// waitEvent waits until the stream delivered an event matching pred and
// returns it with its batch's revision and the time it was seen.
func (w *collector) waitEvent(within time.Duration, what string, pred func(metadata.Event) bool) (metadata.Event, metadata.Revision, time.Time) {
	w.t.Helper()
	var (
		ev  metadata.Event
		rev metadata.Revision
	)
	eventually(w.t, within, fmt.Sprintf("node %d: watch from %d delivering %s", w.node, w.from, what), func() error {
		bs, errb, closed := w.snapshotBatches()
		for _, b := range bs {
			for _, e := range b.Events {
				if pred(e) {
					ev, rev = e, b.Revision
					return nil
				}
			}
		}
		if errb != nil {
			return permanent(fmt.Errorf("stream ended with an Err batch: %w", errb))
		}
		if closed {
			return permanent(errors.New("channel closed"))
		}
		return fmt.Errorf("not among %d batches", len(bs))
	})
	return ev, rev, time.Now()
}

// permanentError makes eventually give up at once.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

func permanent(err error) error { return permanentError{err} }

// checkStream verifies the batches of one stream: revisions strictly
// increasing and above from, no Err batch, every batch non-empty with
// known event types.
// Only the first few problems of a stream are reported.
func checkStream(t T, what string, from metadata.Revision, bs []metadata.WatchBatch) {
	t.Helper()
	const maxReported = 3
	var problems []string
	prev := from
	for i, b := range bs {
		switch {
		case b.Err != nil:
			problems = append(problems, fmt.Sprintf("batch %d is an Err batch: %v", i, b.Err))
			continue
		case b.Revision <= prev:
			problems = append(problems, fmt.Sprintf("batch %d has revision %d, not after the previous %d (out of order or duplicate)", i, b.Revision, prev))
		case len(b.Events) == 0:
			problems = append(problems, fmt.Sprintf("batch %d (revision %d) has no events", i, b.Revision))
		}
		prev = b.Revision
	}
	for i, p := range problems {
		if i == maxReported {
			t.Errorf("%s: and %d more such problems", what, len(problems)-maxReported)
			break
		}
		t.Errorf("%s: %s", what, p)
	}
}

// upTo returns the batches with revision <= rev.
func upTo(bs []metadata.WatchBatch, rev metadata.Revision) []metadata.WatchBatch {
	i := sort.Search(len(bs), func(i int) bool { return bs[i].Revision > rev })
	return bs[:i]
}

// applyAll applies bs to a copy of st, then sets its revision to rev (the
// revision of the snapshot it is compared with: a snapshot's revision need
// not be the revision of a change).
func applyAll(st metadata.State, bs []metadata.WatchBatch, rev metadata.Revision) (metadata.State, error) {
	s := st.Clone()
	for _, b := range bs {
		if err := s.Apply(b); err != nil {
			return s, err
		}
	}
	s.Revision = rev
	return s, nil
}

// canonState returns st with nil and empty collections made the same (nil),
// so that DeepEqual compares content and not how a codec spells "empty".
func canonState(st metadata.State) metadata.State {
	c := metadata.State{Revision: st.Revision, ClusterID: st.ClusterID, NextProducerID: st.NextProducerID,
		Brokers: map[int32]metadata.Broker{}, Topics: map[string]metadata.Topic{}}
	for id, b := range st.Brokers {
		b = b.Clone()
		b.Listeners = canonListeners(b.Listeners)
		c.Brokers[id] = b
	}
	for n, tp := range st.Topics {
		c.Topics[n] = canonTopic(tp)
	}
	return c
}

func canonListeners(ls []metadata.Listener) []metadata.Listener {
	if len(ls) == 0 {
		return nil
	}
	return slices.Clone(ls)
}

func canonTopic(tp metadata.Topic) metadata.Topic {
	tp = tp.Clone()
	if len(tp.Configs) == 0 {
		tp.Configs = nil
	}
	for i, p := range tp.Partitions {
		tp.Partitions[i] = canonPartition(p)
	}
	if len(tp.Partitions) == 0 {
		tp.Partitions = nil
	}
	return tp
}

func canonPartition(p metadata.Partition) metadata.Partition {
	p = p.Clone()
	if len(p.Replicas) == 0 {
		p.Replicas = nil
	}
	if len(p.ISR) == 0 {
		p.ISR = nil
	}
	if len(p.Adding) == 0 {
		p.Adding = nil
	}
	if len(p.Removing) == 0 {
		p.Removing = nil
	}
	return p
}

// diffStates describes how got differs from want, briefly.
func diffStates(want, got metadata.State) string {
	want, got = canonState(want), canonState(got)
	var d []string
	if want.Revision != got.Revision {
		d = append(d, fmt.Sprintf("revision %d vs %d", want.Revision, got.Revision))
	}
	if want.ClusterID != got.ClusterID {
		d = append(d, fmt.Sprintf("cluster id %q vs %q", want.ClusterID, got.ClusterID))
	}
	if want.NextProducerID != got.NextProducerID {
		d = append(d, fmt.Sprintf("next producer id %d vs %d", want.NextProducerID, got.NextProducerID))
	}
	ids := slices.Sorted(maps.Keys(want.Brokers))
	for id := range got.Brokers {
		if _, ok := want.Brokers[id]; !ok {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		w, wok := want.Brokers[id]
		g, gok := got.Brokers[id]
		switch {
		case !gok:
			d = append(d, fmt.Sprintf("broker %d missing (want %+v)", id, w))
		case !wok:
			d = append(d, fmt.Sprintf("broker %d unexpected (%+v)", id, g))
		case !reflect.DeepEqual(w, g):
			d = append(d, fmt.Sprintf("broker %d: want %+v, got %+v", id, w, g))
		}
	}
	names := slices.Sorted(maps.Keys(want.Topics))
	for n := range got.Topics {
		if _, ok := want.Topics[n]; !ok {
			names = append(names, n)
		}
	}
	for _, n := range names {
		w, wok := want.Topics[n]
		g, gok := got.Topics[n]
		switch {
		case !gok:
			d = append(d, fmt.Sprintf("topic %q missing", n))
		case !wok:
			d = append(d, fmt.Sprintf("topic %q unexpected", n))
		case !reflect.DeepEqual(w, g):
			d = append(d, fmt.Sprintf("topic %q: want %+v, got %+v", n, w, g))
		}
	}
	if len(d) == 0 {
		return "no difference"
	}
	return strings.Join(d, "; ")
}

// statesEqual compares two states by content.
func statesEqual(a, b metadata.State) bool {
	return reflect.DeepEqual(canonState(a), canonState(b))
}

// batchesEqual compares two streams by content.
func batchesEqual(a, b []metadata.WatchBatch) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Revision != b[i].Revision || len(a[i].Events) != len(b[i].Events) || (a[i].Err == nil) != (b[i].Err == nil) {
			return false
		}
		for j := range a[i].Events {
			if !reflect.DeepEqual(canonEvent(a[i].Events[j]), canonEvent(b[i].Events[j])) {
				return false
			}
		}
	}
	return true
}

func canonEvent(e metadata.Event) metadata.Event {
	e.Broker = e.Broker.Clone()
	e.Broker.Listeners = canonListeners(e.Broker.Listeners)
	e.Topic = canonTopic(e.Topic)
	e.Partition = canonPartition(e.Partition)
	return e
}

// firstDifference describes where two streams part.
func firstDifference(a, b []metadata.WatchBatch) string {
	for i := 0; i < len(a) && i < len(b); i++ {
		if !batchesEqual(a[i:i+1], b[i:i+1]) {
			return fmt.Sprintf("batch %d: revision %d %s vs revision %d %s", i, a[i].Revision, describeBatch(a[i]), b[i].Revision, describeBatch(b[i]))
		}
	}
	return fmt.Sprintf("%d vs %d batches", len(a), len(b))
}

func describeBatch(b metadata.WatchBatch) string {
	if b.Err != nil {
		return "Err(" + b.Err.Error() + ")"
	}
	var parts []string
	for _, e := range b.Events {
		parts = append(parts, describeEvent(e))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func describeEvent(e metadata.Event) string {
	switch e.Type {
	case metadata.EventBrokerRegistered, metadata.EventBrokerFenced:
		return fmt.Sprintf("%v(broker %d epoch %d)", e.Type, e.Broker.ID, e.Broker.Epoch)
	case metadata.EventBrokerUnregistered:
		return fmt.Sprintf("%v(broker %d)", e.Type, e.BrokerID)
	case metadata.EventTopicCreated:
		return fmt.Sprintf("%v(%s)", e.Type, e.Topic.Name)
	case metadata.EventTopicDeleted:
		return fmt.Sprintf("%v(%s)", e.Type, e.TopicName)
	case metadata.EventPartitionChanged:
		return fmt.Sprintf("%v(%s/%d epoch %d)", e.Type, e.Partition.Topic, e.Partition.Partition, e.Partition.PartitionEpoch)
	case metadata.EventProducerIDsAllocated:
		return fmt.Sprintf("%v(next %d)", e.Type, e.NextProducerID)
	}
	return e.Type.String()
}

// expectErr fails the check unless err matches want with errors.Is and no
// other sentinel (a translation that maps everything to one code, or wraps
// several, would let a caller take the wrong action).
func expectErr(t T, what string, err, want error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want %v", what, want)
		return
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want an error matching %v (errors.Is)", what, err, want)
		return
	}
	for _, s := range metadata.Sentinels {
		if s != want && errors.Is(err, s) {
			t.Errorf("%s: error %v matches %v as well as %v", what, err, s, want)
		}
	}
}

// randomHex returns n random bytes, hex encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// newIncarnation returns a fresh incarnation id.
func newIncarnation() string { return "inc-" + randomHex(8) }

// newTopicID returns a random, non-zero topic id.
func newTopicID() metadata.TopicID {
	var id metadata.TopicID
	for id.IsZero() {
		if _, err := rand.Read(id[:]); err != nil {
			panic(fmt.Sprintf("crypto/rand: %v", err))
		}
	}
	return id
}

func brokerReg(id int32, inc string) metadata.BrokerRegistration {
	return metadata.BrokerRegistration{
		ID:            id,
		IncarnationID: inc,
		Listeners: []metadata.Listener{
			{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id},
			{Name: "CONTROLLER", Host: "127.0.0.1", Port: 19000 + id},
		},
		Rack: fmt.Sprintf("rack-%d", id%2),
	}
}

// topicSpec returns a spec of `partitions` partitions, each replicated on
// replicas (rotated per partition), led by its first replica, ISR empty
// (meaning all replicas).
func topicSpec(name string, partitions int, replicas ...int32) metadata.TopicSpec {
	spec := metadata.TopicSpec{Name: name, ID: newTopicID(), Configs: map[string]string{"cleanup.policy": "delete"}}
	for p := range partitions {
		rs := slices.Clone(replicas)
		if len(rs) > 0 {
			k := p % len(rs)
			rs = append(rs[k:], rs[:k]...)
		}
		leader := metadata.NoLeader
		if len(rs) > 0 {
			leader = rs[0]
		}
		spec.Partitions = append(spec.Partitions, metadata.PartitionSpec{Replicas: rs, Leader: leader})
	}
	return spec
}

// checkCreatedTopic verifies what CreateTopic returned against its spec.
func checkCreatedTopic(t T, what string, spec metadata.TopicSpec, tp metadata.Topic) {
	t.Helper()
	if tp.Name != spec.Name || tp.ID != spec.ID {
		t.Errorf("%s: returned name %q id %v, want %q %v", what, tp.Name, tp.ID, spec.Name, spec.ID)
	}
	if tp.CreatedAt <= 0 {
		t.Errorf("%s: CreatedAt is %d, want the (positive) revision of the creation", what, tp.CreatedAt)
	}
	if !maps.Equal(tp.Configs, spec.Configs) {
		t.Errorf("%s: configs %v, want %v", what, tp.Configs, spec.Configs)
	}
	if len(tp.Partitions) != len(spec.Partitions) {
		t.Errorf("%s: %d partitions, want %d", what, len(tp.Partitions), len(spec.Partitions))
		return
	}
	for i, p := range tp.Partitions {
		ps := spec.Partitions[i]
		isr := ps.ISR
		if len(isr) == 0 {
			isr = ps.Replicas
		}
		want := metadata.Partition{Topic: spec.Name, Partition: int32(i), Replicas: ps.Replicas, Leader: ps.Leader, ISR: isr}
		if !reflect.DeepEqual(canonPartition(p), canonPartition(want)) {
			t.Errorf("%s: partition %d is %+v, want %+v (epochs 0, empty ISR meaning all replicas)", what, i, p, want)
		}
	}
}

// errorsOf collects errors from concurrent goroutines for the check to
// report from its own goroutine.
type errorsOf struct {
	mu   sync.Mutex
	errs []string
}

func (c *errorsOf) add(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *errorsOf) report(t T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errs {
		t.Errorf("%s", e)
	}
}
