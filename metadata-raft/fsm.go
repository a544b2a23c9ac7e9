package raftmeta

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// dedupWindow is how many request ids (with their results) the FSM
// remembers. A retry of a write arrives within its caller's deadline, a few
// seconds, while the metadata log grows by a handful of entries per second:
// the window is far larger than any retry needs. Eviction is first in,
// first out, so it is the same on every node.
const dedupWindow = 8192

// sessionEffect tells the leader's session table what a command did to a
// broker's session. Effects are computed on every node; only the leader's
// session table uses them.
type sessionEffect struct {
	kind  effectKind
	id    int32
	epoch int64
}

type effectKind uint8

const (
	// effectOpened: a new session (id, epoch) was registered.
	effectOpened effectKind = iota + 1
	// effectRenewed: the live session (id, epoch) registered again.
	effectRenewed
	// effectEnded: the session of id was fenced or unregistered.
	effectEnded
)

// fsm is the replicated state machine: the metadata state, the dedup table
// and a bounded history of recent changes for Watch. raft calls Apply,
// Snapshot and Restore from its FSM goroutine; every other method is safe
// for concurrent use.
//
// Revisions: state.Revision is the log index of the last applied command,
// whether it changed anything or not; each change is one WatchBatch whose
// Revision is its command's log index.
type fsm struct {
	log          *slog.Logger
	historyLimit int
	// onApply, if set, is called after each applied command (outside mu)
	// with its request id, its result and its session effects. Set before
	// raft starts.
	onApply func(id reqID, res *result, effects []sessionEffect)

	mu    sync.RWMutex
	state metadata.State
	// history holds every change with a revision in (histStart,
	// state.Revision], oldest first; its batches are never modified.
	history   []metadata.WatchBatch
	histStart metadata.Revision
	// dedup maps the request ids of the last dedupWindow commands to their
	// results; dedupOrder lists them oldest first.
	dedup      map[reqID]*result
	dedupOrder []reqID
	// changed is closed and replaced whenever state.Revision or histStart
	// moves.
	changed chan struct{}
}

var _ raft.FSM = (*fsm)(nil)

func newFSM(log *slog.Logger, historyLimit int) *fsm {
	return &fsm{
		log:          log,
		historyLimit: historyLimit,
		state:        metadata.NewState(),
		dedup:        map[reqID]*result{},
		changed:      make(chan struct{}),
	}
}

// Apply applies one committed command; raft hands its return value (a
// *result) to the ApplyFuture of the node that proposed it.
func (f *fsm) Apply(l *raft.Log) any {
	id, res, effects, ok := f.apply(l.Index, l.Data)
	if ok && f.onApply != nil {
		f.onApply(id, res, effects)
	}
	return res
}

// apply applies the command data at index under f.mu. ok is false if data
// is not a command (id is then unknown).
func (f *fsm) apply(index uint64, data []byte) (id reqID, res *result, effects []sessionEffect, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rev := metadata.Revision(index)
	defer func() {
		if f.state.Revision < rev {
			f.state.Revision = rev
		}
		close(f.changed)
		f.changed = make(chan struct{})
	}()
	cmd, err := decodeCommand(data)
	if err != nil {
		f.log.Error("skipping undecodable raft log entry", "index", index, "error", err)
		return id, failed(index, err), nil, false
	}
	if prev, dup := f.dedup[cmd.id]; dup {
		return cmd.id, prev, nil, true
	}
	res, events, effects := f.exec(rev, cmd)
	if len(events) > 0 {
		b := metadata.WatchBatch{Revision: rev, Events: events}
		if err := f.state.Apply(b); err != nil {
			// exec validated every event against the state: a bug.
			f.log.Error("applying a validated change failed", "index", index, "command", cmd.typ.String(), "error", err)
		}
		f.history = append(f.history, b)
		if over := len(f.history) - f.historyLimit; over > 0 {
			f.trimLocked(f.history[over-1].Revision)
		}
	}
	f.remember(cmd.id, res)
	return cmd.id, res, effects, true
}

// trimLocked drops the history up to and including rev.
func (f *fsm) trimLocked(rev metadata.Revision) {
	if rev <= f.histStart {
		return
	}
	i := sort.Search(len(f.history), func(i int) bool { return f.history[i].Revision > rev })
	clear(f.history[:i])
	f.history = f.history[i:]
	f.histStart = rev
}

func (f *fsm) remember(id reqID, res *result) {
	f.dedup[id] = res
	f.dedupOrder = append(f.dedupOrder, id)
	if over := len(f.dedupOrder) - dedupWindow; over > 0 {
		for _, old := range f.dedupOrder[:over] {
			delete(f.dedup, old)
		}
		f.dedupOrder = slices.Delete(f.dedupOrder, 0, over)
	}
}

// exec computes the result, the events and the session effects of cmd at
// rev against f.state, without changing it.
func (f *fsm) exec(rev metadata.Revision, cmd command) (*result, []metadata.Event, []sessionEffect) {
	index := uint64(rev)
	bad := func(err error) (*result, []metadata.Event, []sessionEffect) {
		return failed(index, err), nil, nil
	}
	decode := func(v any) error {
		if err := json.Unmarshal(cmd.body, v); err != nil {
			return fmt.Errorf("%w: %v body: %v", errBadCommand, cmd.typ, err)
		}
		return nil
	}
	st := &f.state
	switch cmd.typ {
	case cmdRegister:
		var body registerBody
		if err := decode(&body); err != nil {
			return bad(err)
		}
		reg := body.Reg
		if err := validateRegistration(reg); err != nil {
			return bad(err)
		}
		if old, ok := st.Brokers[reg.ID]; ok && !old.Fenced {
			if old.IncarnationID != reg.IncarnationID {
				return bad(fmt.Errorf("raftmeta: register broker %d: incarnation %s is live: %w", reg.ID, old.IncarnationID, metadata.ErrDuplicateBroker))
			}
			old = old.Clone()
			return &result{Index: index, Broker: &old}, nil, []sessionEffect{{effectRenewed, old.ID, old.Epoch}}
		}
		b := metadata.Broker{
			ID:            reg.ID,
			IncarnationID: reg.IncarnationID,
			Listeners:     slices.Clone(reg.Listeners),
			Rack:          reg.Rack,
			Epoch:         int64(rev),
		}
		ret := b.Clone()
		return &result{Index: index, Broker: &ret},
			[]metadata.Event{{Type: metadata.EventBrokerRegistered, Broker: b}},
			[]sessionEffect{{effectOpened, b.ID, b.Epoch}}

	case cmdUnregister:
		var body brokerEpochBody
		if err := decode(&body); err != nil {
			return bad(err)
		}
		b, ok := st.Brokers[body.ID]
		if !ok {
			return &result{Index: index}, nil, nil
		}
		if b.Epoch != body.Epoch {
			return bad(fmt.Errorf("raftmeta: unregister broker %d with epoch %d, current %d: %w", body.ID, body.Epoch, b.Epoch, metadata.ErrStaleEpoch))
		}
		return &result{Index: index},
			[]metadata.Event{{Type: metadata.EventBrokerUnregistered, BrokerID: body.ID}},
			[]sessionEffect{{effectEnded, body.ID, b.Epoch}}

	case cmdFence:
		var body brokerEpochBody
		if err := decode(&body); err != nil {
			return bad(err)
		}
		b, ok := st.Brokers[body.ID]
		if !ok || b.Fenced || b.Epoch != body.Epoch {
			// The session ended or was replaced since the leader decided
			// to fence it: nothing to do.
			return &result{Index: index}, nil, nil
		}
		b = b.Clone()
		b.Fenced = true
		ret := b.Clone()
		return &result{Index: index, Broker: &ret},
			[]metadata.Event{{Type: metadata.EventBrokerFenced, Broker: b}},
			[]sessionEffect{{effectEnded, b.ID, b.Epoch}}

	case cmdCreateTopic:
		var body createTopicBody
		if err := decode(&body); err != nil {
			return bad(err)
		}
		spec := body.Spec
		if err := metadata.ValidateTopicSpec(spec); err != nil {
			return bad(err)
		}
		if old, ok := st.Topics[spec.Name]; ok {
			res := failed(index, fmt.Errorf("raftmeta: create topic %q: %w", spec.Name, metadata.ErrTopicExists))
			old = old.Clone()
			res.Topic = &old
			return res, nil, nil
		}
		t := metadata.Topic{
			Name:       spec.Name,
			ID:         spec.ID,
			Configs:    cloneConfigs(spec.Configs),
			Partitions: make([]metadata.Partition, len(spec.Partitions)),
			CreatedAt:  rev,
		}
		for i, ps := range spec.Partitions {
			isr := ps.ISR
			if len(isr) == 0 {
				isr = ps.Replicas
			}
			t.Partitions[i] = metadata.Partition{
				Topic:     spec.Name,
				Partition: int32(i),
				Replicas:  slices.Clone(ps.Replicas),
				Leader:    ps.Leader,
				ISR:       slices.Clone(isr),
			}
		}
		ret := t.Clone()
		return &result{Index: index, Topic: &ret},
			[]metadata.Event{{Type: metadata.EventTopicCreated, Topic: t}}, nil

	case cmdDeleteTopic:
		var body deleteTopicBody
		if err := decode(&body); err != nil {
			return bad(err)
		}
		if _, ok := st.Topics[body.Name]; !ok {
			return bad(fmt.Errorf("raftmeta: delete topic %q: %w", body.Name, metadata.ErrUnknownTopic))
		}
		return &result{Index: index},
			[]metadata.Event{{Type: metadata.EventTopicDeleted, TopicName: body.Name}}, nil

	case cmdAlterPartition:
		var body alterPartitionBody
		if err := decode(&body); err != nil {
			return bad(err)
		}
		p, err := alterPartition(st, body.Change)
		if err != nil {
			return bad(err)
		}
		ret := p.Clone()
		return &result{Index: index, Partition: &ret},
			[]metadata.Event{{Type: metadata.EventPartitionChanged, Partition: p}}, nil

	case cmdAllocateProducerIDs:
		var body allocateBody
		if err := decode(&body); err != nil {
			return bad(err)
		}
		first := st.NextProducerID
		if body.N <= 0 || first > (1<<63-1)-int64(body.N) {
			return bad(fmt.Errorf("raftmeta: allocate %d producer ids from %d: %w", body.N, first, metadata.ErrInvalid))
		}
		return &result{Index: index, First: first},
			[]metadata.Event{{Type: metadata.EventProducerIDsAllocated, NextProducerID: first + int64(body.N)}}, nil

	case cmdCompact:
		var body compactBody
		if err := decode(&body); err != nil {
			return bad(err)
		}
		if body.Revision < 0 || body.Revision > st.Revision {
			return bad(fmt.Errorf("raftmeta: compact to revision %d, current %d: %w", body.Revision, st.Revision, metadata.ErrInvalid))
		}
		f.trimLocked(body.Revision)
		return &result{Index: index}, nil, nil

	case cmdBarrier:
		return &result{Index: index}, nil, nil

	case cmdSetClusterID:
		// Committed without an event, like a compaction: the id is set once
		// and never changes (see metadata.State.ClusterID).
		var body clusterIDBody
		if err := decode(&body); err != nil {
			return bad(err)
		}
		if err := metadata.ValidateClusterID(body.ID); err != nil {
			return bad(fmt.Errorf("raftmeta: set cluster id: %w", err))
		}
		if st.ClusterID == "" {
			st.ClusterID = body.ID
		}
		return &result{Index: index, ClusterID: st.ClusterID}, nil, nil

	case cmdAddPartitions:
		var body addPartitionsBody
		if err := decode(&body); err != nil {
			return bad(err)
		}
		t, err := addPartitions(st, body.Topic, body.ExpectedCount, body.Parts)
		if err != nil {
			return bad(err)
		}
		ret := t.Clone()
		return &result{Index: index, Topic: &ret},
			[]metadata.Event{{Type: metadata.EventTopicUpdated, Topic: t}}, nil

	case cmdSetTopicConfigs:
		var body setTopicConfigsBody
		if err := decode(&body); err != nil {
			return bad(err)
		}
		old, ok := st.Topics[body.Topic]
		if !ok {
			return bad(fmt.Errorf("raftmeta: set configs of %q: %w", body.Topic, metadata.ErrUnknownTopic))
		}
		if body.CAS && !maps.Equal(old.Configs, body.Expected) {
			return bad(fmt.Errorf("raftmeta: set configs of %q: its configs are not the expected ones: %w", body.Topic, metadata.ErrStaleEpoch))
		}
		t := old.Clone()
		t.Configs = nil
		if len(body.Configs) > 0 {
			t.Configs = cloneConfigs(body.Configs)
		}
		ret := t.Clone()
		return &result{Index: index, Topic: &ret},
			[]metadata.Event{{Type: metadata.EventTopicUpdated, Topic: t}}, nil
	}
	return bad(fmt.Errorf("%w: unknown type %d", errBadCommand, uint8(cmd.typ)))
}

// alterPartition computes the new state of the partition ch names. Errors
// are checked in this order: ErrUnknownTopic, ErrInvalid, ErrStaleEpoch.
func alterPartition(st *metadata.State, ch metadata.PartitionChange) (metadata.Partition, error) {
	t, ok := st.Topics[ch.Topic]
	if !ok || ch.Partition < 0 || int(ch.Partition) >= len(t.Partitions) {
		return metadata.Partition{}, fmt.Errorf("raftmeta: alter partition %s/%d: %w", ch.Topic, ch.Partition, metadata.ErrUnknownTopic)
	}
	cur := t.Partitions[ch.Partition]
	replicas, adding, removing, err := metadata.ValidateChange(cur, ch)
	if err != nil {
		return metadata.Partition{}, fmt.Errorf("raftmeta: alter partition %s/%d: %w", ch.Topic, ch.Partition, err)
	}
	if ch.ExpectedPartitionEpoch != cur.PartitionEpoch {
		return metadata.Partition{}, fmt.Errorf("raftmeta: alter partition %s/%d at partition epoch %d, current %d: %w",
			ch.Topic, ch.Partition, ch.ExpectedPartitionEpoch, cur.PartitionEpoch, metadata.ErrStaleEpoch)
	}
	p := metadata.Partition{
		Topic:          ch.Topic,
		Partition:      ch.Partition,
		Replicas:       replicas,
		Adding:         adding,
		Removing:       removing,
		Leader:         ch.Leader,
		LeaderEpoch:    cur.LeaderEpoch,
		ISR:            slices.Clone(ch.ISR),
		PartitionEpoch: cur.PartitionEpoch + 1,
	}
	if p.ISR == nil {
		p.ISR = []int32{}
	}
	if ch.Leader != cur.Leader {
		p.LeaderEpoch++
	}
	return p, nil
}

// addPartitions computes the topic with parts appended. Errors are checked
// in this order: ErrInvalid, ErrUnknownTopic, ErrStaleEpoch (the partition
// count is not expectedCount).
func addPartitions(st *metadata.State, topic string, expectedCount int32, parts []metadata.PartitionSpec) (metadata.Topic, error) {
	if err := metadata.ValidateNewPartitions(topic, parts); err != nil {
		return metadata.Topic{}, err
	}
	old, ok := st.Topics[topic]
	if !ok {
		return metadata.Topic{}, fmt.Errorf("raftmeta: add partitions to %q: %w", topic, metadata.ErrUnknownTopic)
	}
	if int32(len(old.Partitions)) != expectedCount {
		return metadata.Topic{}, fmt.Errorf("raftmeta: add partitions to %q: has %d partitions, expected %d: %w",
			topic, len(old.Partitions), expectedCount, metadata.ErrStaleEpoch)
	}
	t := old.Clone()
	for _, ps := range parts {
		isr := ps.ISR
		if len(isr) == 0 {
			isr = ps.Replicas
		}
		t.Partitions = append(t.Partitions, metadata.Partition{
			Topic:     topic,
			Partition: int32(len(t.Partitions)),
			Replicas:  slices.Clone(ps.Replicas),
			Leader:    ps.Leader,
			ISR:       slices.Clone(isr),
		})
	}
	return t, nil
}

func validateRegistration(reg metadata.BrokerRegistration) error {
	if reg.ID < 0 || reg.IncarnationID == "" {
		return fmt.Errorf("raftmeta: register broker %d with incarnation %q: %w", reg.ID, reg.IncarnationID, metadata.ErrInvalid)
	}
	return nil
}

func cloneConfigs(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Snapshot format
//
//	offset  size  field
//	0       1     snapshot format version (snapshotVersion, 1)
//	1       n     JSON of snapshotData
//
// snapshotData holds the whole state (with its revision: the index of the
// last applied command) and the dedup table in eviction order. The watch
// history is not part of it: after a restore, history starts at the
// restored revision and older resume points fail with ErrCompacted.

const snapshotVersion = 1

type snapshotData struct {
	State metadata.State `json:"state"`
	Dedup []dedupEntry   `json:"dedup"`
}

type dedupEntry struct {
	ID     reqID   `json:"id"`
	Result *result `json:"result"`
}

// Snapshot captures the state and the dedup table; Persist encodes them
// while Apply goes on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	d := &snapshotData{State: f.state.Clone(), Dedup: make([]dedupEntry, len(f.dedupOrder))}
	for i, id := range f.dedupOrder {
		// Results are never modified once stored: sharing them is safe.
		d.Dedup[i] = dedupEntry{ID: id, Result: f.dedup[id]}
	}
	return &fsmSnapshot{data: d}, nil
}

// Restore replaces everything with the snapshot's content. The history is
// reset to start at the restored revision; watchers behind it end with
// ErrCompacted.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	d, err := readSnapshot(rc)
	if err != nil {
		return err
	}
	dedup := make(map[reqID]*result, len(d.Dedup))
	order := make([]reqID, 0, len(d.Dedup))
	for _, e := range d.Dedup {
		if _, dup := dedup[e.ID]; dup || e.Result == nil {
			return fmt.Errorf("raftmeta: snapshot: bad dedup entry %v", e.ID)
		}
		dedup[e.ID] = e.Result
		order = append(order, e.ID)
	}
	st := d.State
	if st.Brokers == nil {
		st.Brokers = map[int32]metadata.Broker{}
	}
	if st.Topics == nil {
		st.Topics = map[string]metadata.Topic{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = st
	f.dedup, f.dedupOrder = dedup, order
	clear(f.history)
	f.history = nil
	f.histStart = st.Revision
	close(f.changed)
	f.changed = make(chan struct{})
	f.log.Info("restored metadata snapshot", "revision", int64(st.Revision), "brokers", len(st.Brokers), "topics", len(st.Topics))
	return nil
}

// readSnapshot decodes a snapshot written by fsmSnapshot.Persist.
func readSnapshot(r io.Reader) (*snapshotData, error) {
	br := bufio.NewReader(r)
	v, err := br.ReadByte()
	if err != nil {
		return nil, fmt.Errorf("raftmeta: snapshot: reading version: %w", err)
	}
	if v != snapshotVersion {
		return nil, fmt.Errorf("raftmeta: snapshot: format version %d, this build reads %d", v, snapshotVersion)
	}
	var d snapshotData
	dec := json.NewDecoder(br)
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("raftmeta: snapshot: decoding: %w", err)
	}
	if d.State.Revision < 0 {
		return nil, fmt.Errorf("raftmeta: snapshot: negative revision %d", d.State.Revision)
	}
	return &d, nil
}

type fsmSnapshot struct{ data *snapshotData }

// Persist writes the snapshot to sink and closes it (Cancel on error).
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriter(sink)
	err := w.WriteByte(snapshotVersion)
	if err == nil {
		err = json.NewEncoder(w).Encode(s.data)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("raftmeta: writing snapshot: %w", err)
	}
	return sink.Close()
}

// Release does nothing: the snapshot holds only its own copies.
func (s *fsmSnapshot) Release() {}

// stateClone returns a deep copy of the state.
func (f *fsm) stateClone() metadata.State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Clone()
}

// applied returns the log index of the last applied command.
func (f *fsm) applied() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return uint64(f.state.Revision)
}

// waitApplied waits until the command at index (or a later one) is applied.
func (f *fsm) waitApplied(ctx context.Context, index uint64, stop <-chan struct{}) error {
	for {
		f.mu.RLock()
		rev, ch := uint64(f.state.Revision), f.changed
		f.mu.RUnlock()
		if rev >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return errClosed
		}
	}
}

// clusterID returns the cluster id of the state, "" if it has none yet.
func (f *fsm) clusterID() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.ClusterID
}

// broker returns the stored broker id.
func (f *fsm) broker(id int32) (metadata.Broker, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, ok := f.state.Brokers[id]
	return b, ok
}

// liveSessions returns the epoch of every unfenced broker.
func (f *fsm) liveSessions() map[int32]int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[int32]int64, len(f.state.Brokers))
	for id, b := range f.state.Brokers {
		if !b.Fenced {
			out[id] = b.Epoch
		}
	}
	return out
}

// topic returns the stored topic name.
func (f *fsm) topic(name string) (metadata.Topic, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	t, ok := f.state.Topics[name]
	return t.Clone(), ok
}

// next returns up to max batches with a revision after cursor, or
// compacted if some of them are no longer kept, and the channel that is
// closed on the next change.
func (f *fsm) next(cursor metadata.Revision, max int) (bs []metadata.WatchBatch, compacted bool, changed <-chan struct{}) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if cursor < f.histStart {
		return nil, true, f.changed
	}
	i := sort.Search(len(f.history), func(i int) bool { return f.history[i].Revision > cursor })
	end := min(len(f.history), i+max)
	return slices.Clone(f.history[i:end]), false, f.changed
}

// historyStart returns the revision after which history is complete.
func (f *fsm) historyStart() metadata.Revision {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.histStart
}
