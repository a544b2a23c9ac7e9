package raftmeta

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// fsmHarness applies commands at consecutive log indexes.
type fsmHarness struct {
	t     testing.TB
	f     *fsm
	index uint64
}

func newFSMHarness(t testing.TB, history int) *fsmHarness {
	return &fsmHarness{t: t, f: newFSM(slog.New(slog.DiscardHandler), history)}
}

func (h *fsmHarness) cmd(typ cmdType, body any) []byte {
	h.t.Helper()
	data, err := encodeCommand(typ, body)
	if err != nil {
		h.t.Fatal(err)
	}
	return data
}

// applyData applies data at the next index (skipping skip indexes first,
// as raft's own entries do).
func (h *fsmHarness) applyData(data []byte, skip uint64) *result {
	h.t.Helper()
	h.index += 1 + skip
	res, ok := h.f.Apply(&raft.Log{Index: h.index, Term: 1, Type: raft.LogCommand, Data: data}).(*result)
	if !ok {
		h.t.Fatalf("Apply at %d returned %T", h.index, res)
	}
	return res
}

func (h *fsmHarness) apply(typ cmdType, body any) *result {
	h.t.Helper()
	return h.applyData(h.cmd(typ, body), 0)
}

// snapshotRestore persists a snapshot of h's FSM and restores it into a
// new harness.
func (h *fsmHarness) snapshotRestore() *fsmHarness {
	h.t.Helper()
	snap, err := h.f.Snapshot()
	if err != nil {
		h.t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		h.t.Fatal(err)
	}
	g := newFSMHarness(h.t, 100)
	if err := g.f.Restore(io.NopCloser(&sink)); err != nil {
		h.t.Fatal(err)
	}
	return g
}

func testReg(id int32, inc string) metadata.BrokerRegistration {
	return metadata.BrokerRegistration{ID: id, IncarnationID: inc,
		Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "h", Port: 9092}}, Rack: "r1"}
}

func testSpec(name string) metadata.TopicSpec {
	return metadata.TopicSpec{Name: name, ID: metadata.TopicID{1, 2, 3}, Configs: map[string]string{"k": "v"},
		Partitions: []metadata.PartitionSpec{{Replicas: []int32{1, 2}, Leader: 1}, {Replicas: []int32{2, 1}, Leader: 2, ISR: []int32{2}}}}
}

func TestFSMCommands(t *testing.T) {
	h := newFSMHarness(t, 100)
	var effects [][]sessionEffect
	h.f.onApply = func(_ reqID, _ *result, e []sessionEffect) {
		if len(e) > 0 {
			effects = append(effects, e)
		}
	}

	// Register: epoch is the log index.
	res := h.apply(cmdRegister, registerBody{Reg: testReg(1, "a")})
	if res.err() != nil || res.Broker == nil || res.Broker.Epoch != 1 || res.Index != 1 {
		t.Fatalf("register: %+v", res)
	}
	// Same incarnation: same epoch, no change; other incarnation: duplicate.
	res = h.apply(cmdRegister, registerBody{Reg: testReg(1, "a")})
	if res.err() != nil || res.Broker.Epoch != 1 {
		t.Fatalf("re-register: %+v", res)
	}
	res = h.apply(cmdRegister, registerBody{Reg: testReg(1, "b")})
	if !errors.Is(res.err(), metadata.ErrDuplicateBroker) {
		t.Fatalf("other incarnation: %v", res.err())
	}
	if r := h.apply(cmdRegister, registerBody{Reg: testReg(-1, "a")}); !errors.Is(r.err(), metadata.ErrInvalid) {
		t.Fatalf("negative id: %v", r.err())
	}
	// Fence with a wrong epoch does nothing; with the right one fences.
	if r := h.apply(cmdFence, brokerEpochBody{ID: 1, Epoch: 7}); r.err() != nil || r.Broker != nil {
		t.Fatalf("stale fence: %+v", r)
	}
	if r := h.apply(cmdFence, brokerEpochBody{ID: 1, Epoch: 1}); r.err() != nil || r.Broker == nil || !r.Broker.Fenced {
		t.Fatalf("fence: %+v", r)
	}
	// A fenced broker registers again with a higher epoch, any incarnation.
	res = h.apply(cmdRegister, registerBody{Reg: testReg(1, "b")})
	if res.err() != nil || res.Broker.Epoch != int64(h.index) {
		t.Fatalf("register after fence: %+v", res)
	}
	epoch := res.Broker.Epoch
	if r := h.apply(cmdUnregister, brokerEpochBody{ID: 1, Epoch: 1}); !errors.Is(r.err(), metadata.ErrStaleEpoch) {
		t.Fatalf("unregister with old epoch: %v", r.err())
	}
	if r := h.apply(cmdUnregister, brokerEpochBody{ID: 1, Epoch: epoch}); r.err() != nil {
		t.Fatalf("unregister: %v", r.err())
	}
	if r := h.apply(cmdUnregister, brokerEpochBody{ID: 1, Epoch: epoch}); r.err() != nil {
		t.Fatalf("unregister unknown: %v", r.err())
	}
	wantEffects := [][]sessionEffect{
		{{effectOpened, 1, 1}}, {{effectRenewed, 1, 1}}, {{effectEnded, 1, 1}},
		{{effectOpened, 1, epoch}}, {{effectEnded, 1, epoch}},
	}
	if !reflect.DeepEqual(effects, wantEffects) {
		t.Errorf("session effects %+v, want %+v", effects, wantEffects)
	}

	// Topics.
	res = h.apply(cmdCreateTopic, createTopicBody{Spec: testSpec("t")})
	if res.err() != nil || res.Topic == nil || res.Topic.CreatedAt != metadata.Revision(h.index) || len(res.Topic.Partitions) != 2 {
		t.Fatalf("create: %+v", res)
	}
	if p := res.Topic.Partitions[0]; !reflect.DeepEqual(p.ISR, []int32{1, 2}) {
		t.Errorf("empty ISR not expanded to the replicas: %+v", p)
	}
	res = h.apply(cmdCreateTopic, createTopicBody{Spec: testSpec("t")})
	if !errors.Is(res.err(), metadata.ErrTopicExists) || res.Topic == nil || res.Topic.ID != testSpec("t").ID {
		t.Fatalf("create existing: %+v", res)
	}
	res = h.apply(cmdAlterPartition, alterPartitionBody{Change: metadata.PartitionChange{Topic: "t", Partition: 1, ExpectedPartitionEpoch: 0, Leader: 1, ISR: []int32{1, 2}}})
	if res.err() != nil || res.Partition.LeaderEpoch != 1 || res.Partition.PartitionEpoch != 1 {
		t.Fatalf("alter: %+v", res)
	}
	for _, ch := range []struct {
		c    metadata.PartitionChange
		want error
	}{
		{metadata.PartitionChange{Topic: "t", Partition: 1, ExpectedPartitionEpoch: 0, Leader: 1}, metadata.ErrStaleEpoch},
		{metadata.PartitionChange{Topic: "t", Partition: 2, Leader: 1}, metadata.ErrUnknownTopic},
		{metadata.PartitionChange{Topic: "x", Partition: 0, Leader: 1}, metadata.ErrUnknownTopic},
		{metadata.PartitionChange{Topic: "t", Partition: 0, Leader: 3}, metadata.ErrInvalid},
	} {
		if r := h.apply(cmdAlterPartition, alterPartitionBody{Change: ch.c}); !errors.Is(r.err(), ch.want) {
			t.Errorf("alter %+v: %v, want %v", ch.c, r.err(), ch.want)
		}
	}
	if r := h.apply(cmdDeleteTopic, deleteTopicBody{Name: "t"}); r.err() != nil {
		t.Fatalf("delete: %v", r.err())
	}
	if r := h.apply(cmdDeleteTopic, deleteTopicBody{Name: "t"}); !errors.Is(r.err(), metadata.ErrUnknownTopic) {
		t.Fatalf("delete unknown: %v", r.err())
	}

	// Producer ids.
	if r := h.apply(cmdAllocateProducerIDs, allocateBody{N: 10}); r.err() != nil || r.First != 0 {
		t.Fatalf("allocate: %+v", r)
	}
	if r := h.apply(cmdAllocateProducerIDs, allocateBody{N: 5}); r.err() != nil || r.First != 10 {
		t.Fatalf("allocate: %+v", r)
	}
	if r := h.apply(cmdAllocateProducerIDs, allocateBody{N: 0}); !errors.Is(r.err(), metadata.ErrInvalid) {
		t.Fatalf("allocate 0: %v", r.err())
	}

	// The state's revision is the last applied index; the history holds one
	// batch per change, and replaying it reproduces the state.
	st := h.f.stateClone()
	if st.Revision != metadata.Revision(h.index) || st.NextProducerID != 15 || len(st.Brokers) != 0 || len(st.Topics) != 0 {
		t.Fatalf("state %+v", st)
	}
	bs, compacted, _ := h.f.next(0, 1000)
	if compacted {
		t.Fatal("history compacted")
	}
	replay := metadata.NewState()
	for _, b := range bs {
		if err := replay.Apply(b); err != nil {
			t.Fatal(err)
		}
	}
	replay.Revision = st.Revision
	if !reflect.DeepEqual(replay, st) {
		t.Errorf("replayed history %+v differs from the state %+v", replay, st)
	}
	var types []metadata.EventType
	for _, b := range bs {
		if len(b.Events) != 1 {
			t.Errorf("batch %d has %d events", b.Revision, len(b.Events))
		}
		types = append(types, b.Events[0].Type)
	}
	wantTypes := []metadata.EventType{metadata.EventBrokerRegistered, metadata.EventBrokerFenced, metadata.EventBrokerRegistered,
		metadata.EventBrokerUnregistered, metadata.EventTopicCreated, metadata.EventPartitionChanged, metadata.EventTopicDeleted,
		metadata.EventProducerIDsAllocated, metadata.EventProducerIDsAllocated}
	if !reflect.DeepEqual(types, wantTypes) {
		t.Errorf("history events %v, want %v", types, wantTypes)
	}
}

func TestFSMDedup(t *testing.T) {
	h := newFSMHarness(t, 100)
	data := h.cmd(cmdAllocateProducerIDs, allocateBody{N: 3})
	first := h.applyData(data, 0)
	// The same command again (a retry) at a later index: same result,
	// nothing changes, but the revision moves on.
	again := h.applyData(data, 2)
	if !reflect.DeepEqual(first, again) || again.Index != 1 {
		t.Fatalf("retry result %+v, first %+v", again, first)
	}
	if st := h.f.stateClone(); st.NextProducerID != 3 || st.Revision != 4 {
		t.Fatalf("state after a retry: %+v", st)
	}
	// A different request with the same body applies.
	if r := h.apply(cmdAllocateProducerIDs, allocateBody{N: 3}); r.First != 3 {
		t.Fatalf("second allocation: %+v", r)
	}
	// The window is bounded and evicts the oldest first.
	for range dedupWindow {
		h.apply(cmdBarrier, struct{}{})
	}
	if len(h.f.dedup) != dedupWindow || len(h.f.dedupOrder) != dedupWindow {
		t.Fatalf("dedup table holds %d/%d entries", len(h.f.dedup), len(h.f.dedupOrder))
	}
	if r := h.applyData(data, 0); r.First != 6 {
		t.Fatalf("a request id evicted from the window applied as new: %+v", r)
	}
}

func TestFSMUndecodableCommands(t *testing.T) {
	h := newFSMHarness(t, 100)
	good := h.cmd(cmdAllocateProducerIDs, allocateBody{N: 1})
	bad := [][]byte{
		nil,
		{1, 2, 3},
		append([]byte{2}, good[1:]...),     // unknown version
		append([]byte{1, 99}, good[2:]...), // unknown type
		append(append([]byte{}, good[:18]...), "{"...), // bad JSON
	}
	for _, data := range bad {
		res := h.applyData(data, 0)
		if res.err() == nil {
			t.Errorf("%q applied without an error", data)
		}
	}
	if st := h.f.stateClone(); st.NextProducerID != 0 || st.Revision != metadata.Revision(len(bad)) {
		t.Fatalf("state after bad commands: %+v", st)
	}
}

func TestFSMHistoryLimitAndCompact(t *testing.T) {
	h := newFSMHarness(t, 3)
	for range 5 {
		h.apply(cmdAllocateProducerIDs, allocateBody{N: 1})
	}
	if start := h.f.historyStart(); start != 2 {
		t.Fatalf("history start %d, want 2", start)
	}
	if _, compacted, _ := h.f.next(1, 10); !compacted {
		t.Fatal("cursor 1 not compacted")
	}
	bs, compacted, _ := h.f.next(2, 10)
	if compacted || len(bs) != 3 || bs[0].Revision != 3 {
		t.Fatalf("from 2: %+v compacted %v", bs, compacted)
	}
	if r := h.apply(cmdCompact, compactBody{Revision: 4}); r.err() != nil {
		t.Fatal(r.err())
	}
	if start := h.f.historyStart(); start != 4 {
		t.Fatalf("history start after compact %d, want 4", start)
	}
	if r := h.apply(cmdCompact, compactBody{Revision: 2}); r.err() != nil || h.f.historyStart() != 4 {
		t.Fatalf("compacting an older revision: %v, start %d", r.err(), h.f.historyStart())
	}
	if r := h.apply(cmdCompact, compactBody{Revision: 100}); !errors.Is(r.err(), metadata.ErrInvalid) {
		t.Fatalf("compact to the future: %v", r.err())
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func TestFSMSnapshotRestore(t *testing.T) {
	h := newFSMHarness(t, 100)
	h.apply(cmdRegister, registerBody{Reg: testReg(1, "a")})
	h.apply(cmdCreateTopic, createTopicBody{Spec: testSpec("t")})
	alloc := h.cmd(cmdAllocateProducerIDs, allocateBody{N: 5})
	first := h.applyData(alloc, 0)
	h.apply(cmdBarrier, struct{}{})

	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Changes after the snapshot are not in it.
	h.apply(cmdDeleteTopic, deleteTopicBody{Name: "t"})
	var sink memSink
	if err := snap.Persist(&sink); err != nil || !sink.closed {
		t.Fatalf("persist: %v closed %v", err, sink.closed)
	}
	snap.Release()

	g := newFSMHarness(t, 100)
	w := g.f.changed
	if err := g.f.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w:
	default:
		t.Error("restore did not wake watchers")
	}
	st := g.f.stateClone()
	if st.Revision != 4 || len(st.Brokers) != 1 || st.Brokers[1].Epoch != 1 || st.Topics["t"].ID != testSpec("t").ID || st.NextProducerID != 5 {
		t.Fatalf("restored state %+v", st)
	}
	// History starts at the restored revision.
	if g.f.historyStart() != 4 {
		t.Fatalf("history start %d after restore", g.f.historyStart())
	}
	if _, compacted, _ := g.f.next(3, 10); !compacted {
		t.Fatal("history before the snapshot not compacted")
	}
	// The dedup table came along: the old allocation retried is not applied
	// again and yields the first result.
	g.index = 4
	if r := g.applyData(alloc, 0); !reflect.DeepEqual(r, first) {
		t.Fatalf("retry after restore: %+v, want %+v", r, first)
	}
	if st := g.f.stateClone(); st.NextProducerID != 5 {
		t.Fatalf("retry after restore applied: %+v", st)
	}

	// Bad snapshots are refused and leave the state alone.
	for _, bad := range [][]byte{nil, {2}, []byte("\x01{"), []byte(`` + "\x01" + `{"state":{"Revision":-1}}`)} {
		if err := g.f.Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
			t.Errorf("restore of %q succeeded", bad)
		}
	}
	if st := g.f.stateClone(); st.NextProducerID != 5 {
		t.Fatalf("state changed by a refused restore: %+v", st)
	}
}

func FuzzCommand(f *testing.F) {
	for _, c := range []struct {
		typ  cmdType
		body any
	}{
		{cmdRegister, registerBody{Reg: testReg(1, "a")}},
		{cmdCreateTopic, createTopicBody{Spec: testSpec("t")}},
		{cmdAlterPartition, alterPartitionBody{Change: metadata.PartitionChange{Topic: "t", Leader: 2, ISR: []int32{2}}}},
		{cmdAllocateProducerIDs, allocateBody{N: 2}},
		{cmdFence, brokerEpochBody{ID: 1, Epoch: 1}},
		{cmdCompact, compactBody{Revision: 1}},
	} {
		data, err := encodeCommand(c.typ, c.body)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newFSMHarness(t, 10)
		h.apply(cmdRegister, registerBody{Reg: testReg(1, "a")})
		h.apply(cmdCreateTopic, createTopicBody{Spec: testSpec("t")})
		res := h.applyData(data, 0)
		if res == nil {
			t.Fatal("nil result")
		}
		st := h.f.stateClone()
		if st.Revision != 3 {
			t.Fatalf("revision %d after 3 entries", st.Revision)
		}
		// Whatever was applied, the history (unless compacted) replays to
		// the state.
		if h.f.historyStart() > 0 {
			return
		}
		bs, _, _ := h.f.next(0, 100)
		replay := metadata.NewState()
		for _, b := range bs {
			if err := replay.Apply(b); err != nil {
				t.Fatalf("history does not replay: %v", err)
			}
		}
		replay.Revision = st.Revision
		if !reflect.DeepEqual(canon(replay), canon(st)) {
			t.Fatalf("replayed history %+v differs from the state %+v", replay, st)
		}
	})
}

// canon makes empty slices nil, so DeepEqual compares content.
func canon(st metadata.State) metadata.State {
	c := st.Clone()
	for n, tp := range c.Topics {
		for i, p := range tp.Partitions {
			if len(p.ISR) == 0 {
				p.ISR = nil
			}
			if len(p.Replicas) == 0 {
				p.Replicas = nil
			}
			tp.Partitions[i] = p
		}
		if len(tp.Configs) == 0 {
			tp.Configs = nil
		}
		c.Topics[n] = tp
	}
	for id, b := range c.Brokers {
		if len(b.Listeners) == 0 {
			b.Listeners = nil
		}
		c.Brokers[id] = b
	}
	return c
}

func FuzzSnapshot(f *testing.F) {
	h := newFSMHarness(f, 10)
	h.apply(cmdRegister, registerBody{Reg: testReg(1, "a")})
	h.apply(cmdCreateTopic, createTopicBody{Spec: testSpec("t")})
	snap, _ := h.f.Snapshot()
	var sink memSink
	_ = snap.Persist(&sink)
	f.Add(sink.Bytes())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		g := newFSMHarness(t, 10)
		if err := g.f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			return
		}
		// A restored FSM keeps working.
		st := g.f.stateClone()
		g.index = uint64(st.Revision)
		g.apply(cmdAllocateProducerIDs, allocateBody{N: 1})
	})
}

func TestFSMTopicUpdates(t *testing.T) {
	h := newFSMHarness(t, 100)
	h.apply(cmdCreateTopic, createTopicBody{Spec: testSpec("t")})
	add := []metadata.PartitionSpec{
		{Replicas: []int32{3, 1}, Leader: 3},
		{Replicas: []int32{1}, Leader: metadata.NoLeader, ISR: []int32{1}},
	}
	data := h.cmd(cmdAddPartitions, addPartitionsBody{Topic: "t", ExpectedCount: 2, Parts: add})
	res := h.applyData(data, 0)
	if res.err() != nil || res.Topic == nil || len(res.Topic.Partitions) != 4 {
		t.Fatalf("add partitions: %+v", res)
	}
	p2, p3 := res.Topic.Partitions[2], res.Topic.Partitions[3]
	if p2.Topic != "t" || p2.Partition != 2 || p2.Leader != 3 || !reflect.DeepEqual(p2.ISR, []int32{3, 1}) ||
		p2.LeaderEpoch != 0 || p2.PartitionEpoch != 0 {
		t.Errorf("new partition 2: %+v", p2)
	}
	if p3.Partition != 3 || p3.Leader != metadata.NoLeader || !reflect.DeepEqual(p3.ISR, []int32{1}) {
		t.Errorf("new partition 3: %+v", p3)
	}
	bs, _, _ := h.f.next(1, 10)
	if len(bs) != 1 || len(bs[0].Events) != 1 || bs[0].Events[0].Type != metadata.EventTopicUpdated ||
		!reflect.DeepEqual(bs[0].Events[0].Topic, *res.Topic) {
		t.Fatalf("watch after add partitions: %+v", bs)
	}
	// A retry of the same request is deduplicated, not refused as stale.
	if again := h.applyData(data, 0); !reflect.DeepEqual(again, res) {
		t.Fatalf("retried add partitions: %+v, first %+v", again, res)
	}
	for _, tc := range []struct {
		body addPartitionsBody
		want error
	}{
		{addPartitionsBody{Topic: "t", ExpectedCount: 2, Parts: add}, metadata.ErrStaleEpoch},
		{addPartitionsBody{Topic: "nope", ExpectedCount: 0, Parts: add}, metadata.ErrUnknownTopic},
		{addPartitionsBody{Topic: "t", ExpectedCount: 4}, metadata.ErrInvalid},
		{addPartitionsBody{Topic: "t", ExpectedCount: 4, Parts: []metadata.PartitionSpec{{Replicas: []int32{1}, Leader: 2}}}, metadata.ErrInvalid},
	} {
		if r := h.apply(cmdAddPartitions, tc.body); !errors.Is(r.err(), tc.want) {
			t.Errorf("add partitions %+v: %v, want %v", tc.body, r.err(), tc.want)
		}
	}

	res = h.apply(cmdSetTopicConfigs, setTopicConfigsBody{Topic: "t", Configs: map[string]string{"a": "1"}})
	if res.err() != nil || res.Topic == nil || !reflect.DeepEqual(res.Topic.Configs, map[string]string{"a": "1"}) || len(res.Topic.Partitions) != 4 {
		t.Fatalf("set configs: %+v", res)
	}
	res = h.apply(cmdSetTopicConfigs, setTopicConfigsBody{Topic: "t"})
	if res.err() != nil || res.Topic == nil || res.Topic.Configs != nil {
		t.Fatalf("clear configs: %+v", res)
	}
	if r := h.apply(cmdSetTopicConfigs, setTopicConfigsBody{Topic: "nope"}); !errors.Is(r.err(), metadata.ErrUnknownTopic) {
		t.Fatalf("set configs of an unknown topic: %v", r.err())
	}
	st := h.f.stateClone()
	if tp := st.Topics["t"]; len(tp.Partitions) != 4 || tp.Configs != nil {
		t.Fatalf("topic after updates: %+v", tp)
	}

	// The updated topic survives a snapshot and restore.
	g := h.snapshotRestore()
	if got := g.f.stateClone(); !reflect.DeepEqual(canon(got), canon(st)) {
		t.Fatalf("restored %+v, want %+v", got, st)
	}
}

// TestFSMSetTopicConfigsCompareAndSet: the state machine compares a
// set-topic-configs entry's expectation with the configs it holds when it
// applies the entry; an entry in the format of a build before the
// compare-and-set (no cas, no expected) applies unconditionally, as it did.
func TestFSMSetTopicConfigsCompareAndSet(t *testing.T) {
	h := newFSMHarness(t, 100)
	h.apply(cmdCreateTopic, createTopicBody{Spec: testSpec("t")})

	// The topic's configs as created ({k: v}) expected: applies.
	res := h.apply(cmdSetTopicConfigs, setTopicConfigsBody{Topic: "t", CAS: true, Expected: map[string]string{"k": "v"}, Configs: map[string]string{"a": "1"}})
	if res.err() != nil || res.Topic == nil || !reflect.DeepEqual(res.Topic.Configs, map[string]string{"a": "1"}) {
		t.Fatalf("set configs expecting those of the creation: %+v", res)
	}
	// A stale expectation (the old set, none, or other values):
	// ErrStaleEpoch, nothing changes and no event.
	before, _, _ := h.f.next(1, 100)
	for _, exp := range []map[string]string{{"k": "v"}, nil, {}, {"a": "2"}, {"a": "1", "b": "1"}} {
		r := h.apply(cmdSetTopicConfigs, setTopicConfigsBody{Topic: "t", CAS: true, Expected: exp, Configs: map[string]string{"x": "y"}})
		if !errors.Is(r.err(), metadata.ErrStaleEpoch) {
			t.Errorf("set configs expecting %v: %v, want ErrStaleEpoch", exp, r.err())
		}
	}
	if after, _, _ := h.f.next(1, 100); len(after) != len(before) {
		t.Errorf("refused sets changed the history: %d batches, were %d", len(after), len(before))
	}
	if tp := h.f.stateClone().Topics["t"]; !reflect.DeepEqual(tp.Configs, map[string]string{"a": "1"}) {
		t.Fatalf("configs after refused sets: %v", tp.Configs)
	}
	// The right expectation: applies; clearing with {} expected as nil.
	res = h.apply(cmdSetTopicConfigs, setTopicConfigsBody{Topic: "t", CAS: true, Expected: map[string]string{"a": "1"}, Configs: map[string]string{"a": "1", "b": "2"}})
	if res.err() != nil || !reflect.DeepEqual(res.Topic.Configs, map[string]string{"a": "1", "b": "2"}) {
		t.Fatalf("set configs with the right expectation: %+v", res)
	}
	res = h.apply(cmdSetTopicConfigs, setTopicConfigsBody{Topic: "t", CAS: true, Expected: map[string]string{"b": "2", "a": "1"}})
	if res.err() != nil || res.Topic.Configs != nil {
		t.Fatalf("clear configs with the right expectation: %+v", res)
	}
	res = h.apply(cmdSetTopicConfigs, setTopicConfigsBody{Topic: "t", CAS: true, Expected: map[string]string{}, Configs: map[string]string{"c": "3"}})
	if res.err() != nil || !reflect.DeepEqual(res.Topic.Configs, map[string]string{"c": "3"}) {
		t.Fatalf("set configs expecting an empty set: %+v", res)
	}

	// An entry of an older build: the body had only topic and configs.
	type oldBody struct {
		Topic   string            `json:"topic"`
		Configs map[string]string `json:"configs,omitempty"`
	}
	data := h.cmd(cmdSetTopicConfigs, oldBody{Topic: "t", Configs: map[string]string{"old": "1"}})
	if bytes.Contains(data, []byte(`"cas"`)) || bytes.Contains(data, []byte(`"expected"`)) {
		t.Fatalf("old-format entry %q carries the new fields", data)
	}
	res = h.applyData(data, 0)
	if res.err() != nil || !reflect.DeepEqual(res.Topic.Configs, map[string]string{"old": "1"}) {
		t.Fatalf("old-format entry over configs {c:3}: %+v, want it applied unconditionally", res)
	}
	// And the snapshot carries the result.
	if tp := h.snapshotRestore().f.stateClone().Topics["t"]; !reflect.DeepEqual(tp.Configs, map[string]string{"old": "1"}) {
		t.Fatalf("configs after snapshot and restore: %v", tp.Configs)
	}
}

func TestFSMClusterID(t *testing.T) {
	h := newFSMHarness(t, 100)
	h.apply(cmdRegister, registerBody{Reg: testReg(1, "a")})
	if id := h.f.clusterID(); id != "" {
		t.Fatalf("cluster id %q before any was set", id)
	}
	// A malformed id is refused and sets nothing.
	if r := h.apply(cmdSetClusterID, clusterIDBody{ID: "not-an-id"}); !errors.Is(r.err(), metadata.ErrInvalid) || h.f.clusterID() != "" {
		t.Fatalf("malformed id: %+v, state id %q", r, h.f.clusterID())
	}
	first := metadata.NewClusterID()
	if r := h.apply(cmdSetClusterID, clusterIDBody{ID: first}); r.err() != nil || r.ClusterID != first {
		t.Fatalf("set cluster id: %+v", r)
	}
	// A second id (another leader's proposal) changes nothing and answers
	// the id in force.
	if r := h.apply(cmdSetClusterID, clusterIDBody{ID: metadata.NewClusterID()}); r.err() != nil || r.ClusterID != first {
		t.Fatalf("second cluster id: %+v, want %q kept", r, first)
	}
	st := h.f.stateClone()
	if st.ClusterID != first || st.Revision != metadata.Revision(h.index) {
		t.Fatalf("state: cluster id %q revision %d, want %q at %d", st.ClusterID, st.Revision, first, h.index)
	}
	// Committed without an event: the history holds the registration only.
	if bs, _, _ := h.f.next(0, 10); len(bs) != 1 || bs[0].Events[0].Type != metadata.EventBrokerRegistered {
		t.Fatalf("history %+v, want the registration only", bs)
	}

	// The id is part of snapshots.
	if id := h.snapshotRestore().f.clusterID(); id != first {
		t.Fatalf("restored cluster id %q, want %q", id, first)
	}

	// A snapshot written before cluster ids (no ClusterID field) restores
	// with none, and the id can then be set (the leader does so).
	old := []byte("\x01" + `{"state":{"Revision":7,"Brokers":{},"Topics":{},"NextProducerID":3},"dedup":[]}`)
	o := newFSMHarness(t, 100)
	if err := o.f.Restore(io.NopCloser(bytes.NewReader(old))); err != nil {
		t.Fatal(err)
	}
	if id := o.f.clusterID(); id != "" {
		t.Fatalf("old snapshot restored with cluster id %q", id)
	}
	o.index = 7
	if r := o.apply(cmdSetClusterID, clusterIDBody{ID: first}); r.err() != nil || o.f.clusterID() != first {
		t.Fatalf("set cluster id over an old snapshot: %+v", r)
	}
}
