package memory

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

var (
	_ metadata.Backend      = (*Store)(nil)
	_ metadata.Compactor    = (*Store)(nil)
	_ metadata.TopicUpdater = (*Store)(nil)
)

// errClosed is returned by every call on a closed store or handle.
var errClosed = fmt.Errorf("memory: store or node handle closed: %w", metadata.ErrUnavailable)

// Store is the in-memory metadata backend: a metadata.Backend and
// metadata.Compactor. The Store returned by NewStore owns the state; Node
// returns further handles on the same state that act as other nodes of the
// cluster.
//
// All methods are safe for concurrent use. Writes commit before they return
// and are seen by every handle at once. Methods never block beyond a short
// critical section; each one fails with ctx's error when ctx is already done
// and with metadata.ErrUnavailable after Close (of this handle or of the
// store).
type Store struct {
	c *core
	h *handle
	// root is true for the Store from NewStore: its Close closes the state.
	root bool
}

// core is the state shared by every handle.
//
// Locking: mu guards every field below it and the closed/done/wg-Add of every
// handle; it is held only for short, non-blocking sections (never while
// sending on a channel).
type core struct {
	cfg    Config
	log    *slog.Logger
	leader string
	peers  []metadata.Peer

	// kick wakes the session reaper when a session is opened.
	kick chan struct{}
	// done is closed by Close; wg counts the reaper and every watcher.
	done chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
	state  metadata.State
	// sessions holds the deadline of every live (unfenced) broker session.
	sessions map[int32]time.Time
	// history holds every batch with a revision in (histStart,
	// state.Revision], one per revision, oldest first. Batches in history
	// are never modified; watchers deliver deep copies.
	history   []metadata.WatchBatch
	histStart metadata.Revision
	// trimmed is true once some history was discarded (by the limit or by
	// Compact); until then Watch(0) starts at the beginning of history.
	trimmed bool
	// changed is closed and replaced on every commit.
	changed chan struct{}
}

// handle is one node's view: its own id, its own watchers and Close.
type handle struct {
	id string
	// closed and done are guarded by core.mu; wg counts this handle's
	// watchers (each one also counted in core.wg).
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// NewStore returns a new, empty store at cfg.InitialRevision and starts its
// session reaper. The caller must Close it.
func NewStore(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	st := metadata.NewState()
	st.Revision = cfg.InitialRevision
	st.ClusterID = metadata.NewClusterID() // memory keeps nothing: a new cluster
	c := &core{
		cfg:       cfg,
		log:       cfg.Logger,
		leader:    cfg.NodeID,
		peers:     slices.Clone(cfg.Peers),
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		state:     st,
		sessions:  map[int32]time.Time{},
		histStart: cfg.InitialRevision,
		changed:   make(chan struct{}),
	}
	c.wg.Add(1)
	go c.reap()
	return &Store{c: c, h: newHandle(cfg.NodeID), root: true}, nil
}

func newHandle(id string) *handle {
	return &handle{id: id, done: make(chan struct{})}
}

// Node returns a new handle on the same state that behaves like another node
// of the cluster with the given id: it sees every write at once, its
// watches are its own, and its Close ends only its watches (with an Err
// batch wrapping metadata.ErrUnavailable) and never closes the store. Once
// the store is closed, every call on the handle fails with ErrUnavailable.
// The caller must Close the handle.
func (s *Store) Node(id string) *Store {
	h := newHandle(id)
	s.c.mu.Lock()
	if s.c.closed {
		h.closed = true
		close(h.done)
	}
	s.c.mu.Unlock()
	return &Store{c: s.c, h: h}
}

// Close closes this handle: its watch channels end with an Err batch
// (metadata.ErrUnavailable) and later calls fail with ErrUnavailable. On the
// Store from NewStore it also closes the state, ending every handle's
// watches and stopping the session reaper. Close waits for the goroutines it
// stops; it is idempotent and always returns nil.
func (s *Store) Close() error {
	c, h := s.c, s.h
	c.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	if s.root && !c.closed {
		c.closed = true
		close(c.done)
	}
	c.mu.Unlock()
	h.wg.Wait()
	if s.root {
		c.wg.Wait()
	}
	return nil
}

// Revision returns the revision of the latest committed change. Unlike
// every other method it also works after Close, so that a store replacing
// this one (memory keeps nothing across a restart) can start above it with
// Config.InitialRevision.
func (s *Store) Revision() metadata.Revision {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.c.state.Revision
}

// enter checks ctx, then locks the core and checks that the handle and the
// store are open. On nil error the caller holds c.mu.
func (s *Store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.c.mu.Lock()
	if s.c.closed || s.h.closed {
		s.c.mu.Unlock()
		return errClosed
	}
	return nil
}

// commitLocked commits one change made of the events built by mk for the
// next revision, and returns that revision. c.mu must be held.
func (c *core) commitLocked(mk func(rev metadata.Revision) []metadata.Event) metadata.Revision {
	rev := c.state.Revision + 1
	b := metadata.WatchBatch{Revision: rev, Events: mk(rev)}
	if err := c.state.Apply(b); err != nil {
		// Every caller validated its change against c.state first.
		panic(fmt.Sprintf("memory: committing revision %d: %v", rev, err))
	}
	c.history = append(c.history, b)
	if over := len(c.history) - c.cfg.HistoryLimit; over > 0 {
		clear(c.history[:over])
		c.history = c.history[over:]
		c.histStart += metadata.Revision(over)
		c.trimmed = true
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return rev
}

// RegisterBroker opens a session for reg.ID; see metadata.Backend. A
// repeated registration of the live incarnation also renews its session.
func (s *Store) RegisterBroker(ctx context.Context, reg metadata.BrokerRegistration) (metadata.Broker, error) {
	if reg.ID < 0 || reg.IncarnationID == "" {
		return metadata.Broker{}, fmt.Errorf("memory: register broker %d with incarnation %q: %w", reg.ID, reg.IncarnationID, metadata.ErrInvalid)
	}
	if err := s.enter(ctx); err != nil {
		return metadata.Broker{}, err
	}
	c := s.c
	defer c.mu.Unlock()
	if old, ok := c.state.Brokers[reg.ID]; ok && !old.Fenced {
		if old.IncarnationID != reg.IncarnationID {
			return metadata.Broker{}, fmt.Errorf("memory: register broker %d: %w", reg.ID, metadata.ErrDuplicateBroker)
		}
		c.sessions[reg.ID] = time.Now().Add(c.cfg.SessionTimeout)
		return old.Clone(), nil
	}
	var b metadata.Broker
	c.commitLocked(func(rev metadata.Revision) []metadata.Event {
		b = metadata.Broker{
			ID:            reg.ID,
			IncarnationID: reg.IncarnationID,
			Listeners:     slices.Clone(reg.Listeners),
			Rack:          reg.Rack,
			Epoch:         int64(rev),
		}
		return []metadata.Event{{Type: metadata.EventBrokerRegistered, Broker: b.Clone()}}
	})
	c.sessions[reg.ID] = time.Now().Add(c.cfg.SessionTimeout)
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return b, nil
}

// Heartbeat renews the session (id, epoch); see metadata.Backend. It
// commits nothing.
func (s *Store) Heartbeat(ctx context.Context, id int32, epoch int64) (metadata.HeartbeatResult, error) {
	if err := s.enter(ctx); err != nil {
		return metadata.HeartbeatResult{}, err
	}
	c := s.c
	defer c.mu.Unlock()
	b, ok := c.state.Brokers[id]
	switch {
	case !ok:
		return metadata.HeartbeatResult{}, fmt.Errorf("memory: heartbeat of unknown broker %d: %w", id, metadata.ErrFenced)
	case b.Epoch != epoch:
		return metadata.HeartbeatResult{}, fmt.Errorf("memory: heartbeat of broker %d with epoch %d, current %d: %w", id, epoch, b.Epoch, metadata.ErrStaleEpoch)
	case b.Fenced:
		return metadata.HeartbeatResult{}, fmt.Errorf("memory: heartbeat of broker %d epoch %d: %w", id, epoch, metadata.ErrFenced)
	}
	c.sessions[id] = time.Now().Add(c.cfg.SessionTimeout)
	return metadata.HeartbeatResult{Epoch: epoch, SessionTimeout: c.cfg.SessionTimeout}, nil
}

// UnregisterBroker ends the session and removes the broker; see
// metadata.Backend. A fenced broker with its last epoch may unregister too.
func (s *Store) UnregisterBroker(ctx context.Context, id int32, epoch int64) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	c := s.c
	defer c.mu.Unlock()
	b, ok := c.state.Brokers[id]
	if !ok {
		return nil
	}
	if b.Epoch != epoch {
		return fmt.Errorf("memory: unregister broker %d with epoch %d, current %d: %w", id, epoch, b.Epoch, metadata.ErrStaleEpoch)
	}
	c.commitLocked(func(metadata.Revision) []metadata.Event {
		return []metadata.Event{{Type: metadata.EventBrokerUnregistered, BrokerID: id}}
	})
	delete(c.sessions, id)
	return nil
}

// CreateTopic creates the topic with all its partitions in one change; see
// metadata.Backend. An empty ISR means all replicas. With ErrTopicExists the
// existing topic is returned as well.
func (s *Store) CreateTopic(ctx context.Context, spec metadata.TopicSpec) (metadata.Topic, error) {
	if err := metadata.ValidateTopicSpec(spec); err != nil {
		return metadata.Topic{}, err
	}
	if err := s.enter(ctx); err != nil {
		return metadata.Topic{}, err
	}
	c := s.c
	defer c.mu.Unlock()
	if old, ok := c.state.Topics[spec.Name]; ok {
		return old.Clone(), fmt.Errorf("memory: create topic %q: %w", spec.Name, metadata.ErrTopicExists)
	}
	var t metadata.Topic
	c.commitLocked(func(rev metadata.Revision) []metadata.Event {
		t = metadata.Topic{
			Name:       spec.Name,
			ID:         spec.ID,
			Configs:    maps.Clone(spec.Configs),
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
		return []metadata.Event{{Type: metadata.EventTopicCreated, Topic: t.Clone()}}
	})
	return t, nil
}

// AddPartitions implements metadata.TopicUpdater.
func (s *Store) AddPartitions(ctx context.Context, topic string, expectedCount int32, parts []metadata.PartitionSpec) (metadata.Topic, error) {
	if err := metadata.ValidateNewPartitions(topic, parts); err != nil {
		return metadata.Topic{}, err
	}
	if err := s.enter(ctx); err != nil {
		return metadata.Topic{}, err
	}
	c := s.c
	defer c.mu.Unlock()
	old, ok := c.state.Topics[topic]
	if !ok {
		return metadata.Topic{}, fmt.Errorf("memory: add partitions to %q: %w", topic, metadata.ErrUnknownTopic)
	}
	if int32(len(old.Partitions)) != expectedCount {
		return metadata.Topic{}, fmt.Errorf("memory: add partitions to %q: has %d partitions, expected %d: %w",
			topic, len(old.Partitions), expectedCount, metadata.ErrStaleEpoch)
	}
	t := old.Clone()
	for _, ps := range parts {
		isr := ps.ISR
		if len(isr) == 0 {
			isr = ps.Replicas
		}
		t.Partitions = append(t.Partitions, metadata.Partition{
			Topic: topic, Partition: int32(len(t.Partitions)),
			Replicas: slices.Clone(ps.Replicas), Leader: ps.Leader, ISR: slices.Clone(isr),
		})
	}
	c.commitLocked(func(metadata.Revision) []metadata.Event {
		return []metadata.Event{{Type: metadata.EventTopicUpdated, Topic: t.Clone()}}
	})
	return t, nil
}

// SetTopicConfigs implements metadata.TopicUpdater: a compare-and-set of
// the topic's configs against expected (nil and empty alike).
func (s *Store) SetTopicConfigs(ctx context.Context, topic string, expected, configs map[string]string) (metadata.Topic, error) {
	if err := s.enter(ctx); err != nil {
		return metadata.Topic{}, err
	}
	c := s.c
	defer c.mu.Unlock()
	old, ok := c.state.Topics[topic]
	if !ok {
		return metadata.Topic{}, fmt.Errorf("memory: set configs of %q: %w", topic, metadata.ErrUnknownTopic)
	}
	if !maps.Equal(old.Configs, expected) {
		return metadata.Topic{}, fmt.Errorf("memory: set configs of %q: its configs are not the expected ones: %w", topic, metadata.ErrStaleEpoch)
	}
	t := old.Clone()
	t.Configs = nil
	if len(configs) > 0 {
		t.Configs = maps.Clone(configs)
	}
	c.commitLocked(func(metadata.Revision) []metadata.Event {
		return []metadata.Event{{Type: metadata.EventTopicUpdated, Topic: t.Clone()}}
	})
	return t, nil
}

// DeleteTopic removes the topic and its partitions in one change; see
// metadata.Backend.
func (s *Store) DeleteTopic(ctx context.Context, name string) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	c := s.c
	defer c.mu.Unlock()
	if _, ok := c.state.Topics[name]; !ok {
		return fmt.Errorf("memory: delete topic %q: %w", name, metadata.ErrUnknownTopic)
	}
	c.commitLocked(func(metadata.Revision) []metadata.Event {
		return []metadata.Event{{Type: metadata.EventTopicDeleted, TopicName: name}}
	})
	return nil
}

// AlterPartition is a compare-and-set on the partition epoch; see
// metadata.Backend. Errors are checked in this order: ErrUnknownTopic,
// ErrInvalid, ErrStaleEpoch. A nil change.Replicas keeps the assignment and
// the reassignment in progress; a non-nil empty one is ErrInvalid (see
// metadata.ValidateChange).
func (s *Store) AlterPartition(ctx context.Context, ch metadata.PartitionChange) (metadata.Partition, error) {
	if err := s.enter(ctx); err != nil {
		return metadata.Partition{}, err
	}
	c := s.c
	defer c.mu.Unlock()
	t, ok := c.state.Topics[ch.Topic]
	if !ok || ch.Partition < 0 || int(ch.Partition) >= len(t.Partitions) {
		return metadata.Partition{}, fmt.Errorf("memory: alter partition %s/%d: %w", ch.Topic, ch.Partition, metadata.ErrUnknownTopic)
	}
	cur := t.Partitions[ch.Partition]
	replicas, adding, removing, err := metadata.ValidateChange(cur, ch)
	if err != nil {
		return metadata.Partition{}, fmt.Errorf("memory: alter partition %s/%d: %w", ch.Topic, ch.Partition, err)
	}
	if ch.ExpectedPartitionEpoch != cur.PartitionEpoch {
		return metadata.Partition{}, fmt.Errorf("memory: alter partition %s/%d at partition epoch %d, current %d: %w",
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
	if ch.Leader != cur.Leader {
		p.LeaderEpoch++
	}
	c.commitLocked(func(metadata.Revision) []metadata.Event {
		return []metadata.Event{{Type: metadata.EventPartitionChanged, Partition: p.Clone()}}
	})
	return p, nil
}

// AllocateProducerIDs reserves n consecutive producer ids; see
// metadata.Backend. ErrInvalid if n <= 0 or the counter would overflow.
func (s *Store) AllocateProducerIDs(ctx context.Context, n int) (int64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("memory: allocate %d producer ids: %w", n, metadata.ErrInvalid)
	}
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	c := s.c
	defer c.mu.Unlock()
	first := c.state.NextProducerID
	if first > (1<<63-1)-int64(n) {
		return 0, fmt.Errorf("memory: allocate %d producer ids: counter exhausted: %w", n, metadata.ErrInvalid)
	}
	next := first + int64(n)
	c.commitLocked(func(metadata.Revision) []metadata.Event {
		return []metadata.Event{{Type: metadata.EventProducerIDsAllocated, NextProducerID: next}}
	})
	return first, nil
}

// Snapshot returns a deep copy of the whole state at the latest revision.
func (s *Store) Snapshot(ctx context.Context) (metadata.State, error) {
	if err := s.enter(ctx); err != nil {
		return metadata.State{}, err
	}
	defer s.c.mu.Unlock()
	return s.c.state.Clone(), nil
}

// Info describes the backend: NodeID is this handle's id, Leader the id of
// the node holding the store, Members the configured peers.
func (s *Store) Info(ctx context.Context) (metadata.Info, error) {
	if err := s.enter(ctx); err != nil {
		return metadata.Info{}, err
	}
	defer s.c.mu.Unlock()
	c := s.c
	info := metadata.Info{
		Name:         Name,
		Version:      Version,
		Capabilities: slices.Clone(Capabilities),
		NodeID:       s.h.id,
		Leader:       c.leader,
	}
	peers := c.peers
	if len(peers) == 0 {
		peers = []metadata.Peer{{ID: c.leader}}
	}
	for _, p := range peers {
		holder := p.ID == c.leader
		info.Members = append(info.Members, metadata.Member{ID: p.ID, Address: p.Address, Voter: holder, Leader: holder})
	}
	return info, nil
}

// Compact discards the change history up to and including rev: Watch from a
// revision before rev then fails with ErrCompacted, and watchers still
// reading that part of the history end with an ErrCompacted batch.
// Compacting an already compacted revision is a no-op; a revision after the
// current one is ErrInvalid.
func (s *Store) Compact(ctx context.Context, rev metadata.Revision) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	c := s.c
	defer c.mu.Unlock()
	if rev > c.state.Revision {
		return fmt.Errorf("memory: compact to revision %d after the current %d: %w", rev, c.state.Revision, metadata.ErrInvalid)
	}
	if rev <= c.histStart {
		return nil
	}
	n := int(rev - c.histStart)
	clear(c.history[:n])
	c.history = c.history[n:]
	c.histStart = rev
	c.trimmed = true
	// Wake the watchers so that those behind notice.
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

// reap is the session reaper, the only goroutine that fences: it fences the
// expired session with the earliest deadline, one per committed change, and
// sleeps on a timer until the next deadline. Owned by the core (c.wg, c.done).
func (c *core) reap() {
	defer c.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		var (
			first    int32
			deadline time.Time
			found    bool
		)
		for id, dl := range c.sessions {
			if !found || dl.Before(deadline) {
				first, deadline, found = id, dl, true
			}
		}
		now := time.Now()
		if found && !now.Before(deadline) {
			c.fenceLocked(first)
			c.mu.Unlock()
			continue
		}
		c.mu.Unlock()
		var fire <-chan time.Time
		if found {
			timer.Reset(deadline.Sub(now))
			fire = timer.C
		}
		select {
		case <-fire:
		case <-c.kick:
		case <-c.done:
			return
		}
		timer.Stop()
	}
}

// fenceLocked commits the fencing of broker id. c.mu must be held.
func (c *core) fenceLocked(id int32) {
	delete(c.sessions, id)
	b, ok := c.state.Brokers[id]
	if !ok || b.Fenced {
		return
	}
	b = b.Clone()
	b.Fenced = true
	rev := c.commitLocked(func(metadata.Revision) []metadata.Event {
		return []metadata.Event{{Type: metadata.EventBrokerFenced, Broker: b}}
	})
	c.log.Info("broker session expired, fenced", "broker", id, "epoch", b.Epoch, "revision", int64(rev))
}
