// Command testplugin is a small chronik metadata plugin for the tests of
// the host-side loader (package plugins: Load, Host, Probe). It is not a
// reference backend (see plugins/memory): it keeps one node's state as a
// list of committed batches, persisted to a file in Config.DataDir after
// every change, so that a restarted process continues the same history
// (revisions 1, 2, 3... without gaps, which makes a gap or a duplicate
// visible to a test). Broker sessions never expire.
//
// What the tests observe:
//
//   - Info (after Configure) has NodeID = Config.NodeID, and one Member whose
//     Address is "starts=N": the number of Configure calls this DataDir has
//     seen across processes.
//   - Configure logs "test backend configured" (info, with node_id and
//     starts) and "test backend warning" (warn) as hclog JSON on stderr.
//   - Settings["compact-on-restart"]="true": a Configure that is not the
//     first for this DataDir commits one change (AllocateProducerIDs) and
//     compacts the history through it.
//   - Settings["exit-on-restart"]="true": a Configure that is not the first
//     for this DataDir exits the process (a plugin that crashes at start).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/chronik-go/chronik/plugins"
	"github.com/chronik-go/chronik/plugins/metadata"
)

func main() {
	plugins.Serve(plugins.Factory{
		Name:         "test",
		Version:      "0.0.1",
		Capabilities: []metadata.Capability{metadata.CapPersistence, metadata.CapCompact},
		New:          newBackend,
	})
}

// disk is the persisted state: every committed batch, and the compaction
// point.
type disk struct {
	Batches   []metadata.WatchBatch
	Compacted metadata.Revision
	Starts    int
}

type backend struct {
	cfg  metadata.Config
	path string // "" without DataDir: nothing persisted

	mu      sync.Mutex
	disk    disk
	st      metadata.State
	changed chan struct{} // closed and replaced at every commit and at Close
	closed  bool
}

var (
	_ metadata.Backend   = (*backend)(nil)
	_ metadata.Compactor = (*backend)(nil)
)

func newBackend(_ context.Context, cfg metadata.Config) (metadata.Backend, error) {
	log := hclog.New(&hclog.LoggerOptions{Name: "testplugin", Output: os.Stderr, JSONFormat: true, Level: hclog.Debug})
	b := &backend{cfg: cfg, st: metadata.NewState(), changed: make(chan struct{})}
	if cfg.DataDir != "" {
		b.path = filepath.Join(cfg.DataDir, "testplugin.json")
		data, err := os.ReadFile(b.path)
		switch {
		case err == nil:
			if err := json.Unmarshal(data, &b.disk); err != nil {
				return nil, fmt.Errorf("testplugin: reading %s: %w", b.path, err)
			}
		case !os.IsNotExist(err):
			return nil, fmt.Errorf("testplugin: %w", err)
		}
	}
	for _, batch := range b.disk.Batches {
		if err := b.st.Apply(batch); err != nil {
			return nil, fmt.Errorf("testplugin: replaying history: %w", err)
		}
	}
	restarted := b.disk.Starts > 0
	b.disk.Starts++
	if err := b.persist(); err != nil {
		return nil, err
	}
	log.Info("test backend configured", "node_id", cfg.NodeID, "starts", b.disk.Starts)
	log.Warn("test backend warning", "node_id", cfg.NodeID)
	if restarted && cfg.Settings["exit-on-restart"] == "true" {
		log.Error("exiting at restart as asked")
		os.Exit(3)
	}
	if restarted && cfg.Settings["compact-on-restart"] == "true" {
		b.mu.Lock()
		next := b.st.NextProducerID + 1
		_, err := b.commitLocked(metadata.Event{Type: metadata.EventProducerIDsAllocated, NextProducerID: next})
		if err == nil {
			b.disk.Compacted = b.st.Revision
			err = b.persist()
		}
		b.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// persist writes b.disk (b.mu held, or before b is shared).
func (b *backend) persist() error {
	if b.path == "" {
		return nil
	}
	data, err := json.Marshal(b.disk)
	if err != nil {
		return fmt.Errorf("testplugin: %w", err)
	}
	tmp := b.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("testplugin: %w", err)
	}
	if err := os.Rename(tmp, b.path); err != nil {
		return fmt.Errorf("testplugin: %w", err)
	}
	return nil
}

// commitLocked commits one change at the next revision.
func (b *backend) commitLocked(events ...metadata.Event) (metadata.Revision, error) {
	if b.closed {
		return 0, fmt.Errorf("testplugin: closed: %w", metadata.ErrUnavailable)
	}
	batch := metadata.WatchBatch{Revision: b.st.Revision + 1, Events: events}
	// Broker epochs are the revision of the registration.
	for i := range batch.Events {
		if batch.Events[i].Type == metadata.EventBrokerRegistered {
			batch.Events[i].Broker.Epoch = int64(batch.Revision)
		}
	}
	if err := b.st.Apply(batch); err != nil {
		return 0, fmt.Errorf("testplugin: %w: %w", metadata.ErrInvalid, err)
	}
	b.disk.Batches = append(b.disk.Batches, batch)
	if err := b.persist(); err != nil {
		return 0, err
	}
	close(b.changed)
	b.changed = make(chan struct{})
	return batch.Revision, nil
}

func (b *backend) RegisterBroker(_ context.Context, reg metadata.BrokerRegistration) (metadata.Broker, error) {
	if reg.ID < 0 || reg.IncarnationID == "" {
		return metadata.Broker{}, fmt.Errorf("testplugin: %w: bad registration", metadata.ErrInvalid)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.st.Brokers[reg.ID]; ok && !old.Fenced {
		if old.IncarnationID == reg.IncarnationID {
			return old.Clone(), nil
		}
		return metadata.Broker{}, metadata.ErrDuplicateBroker
	}
	br := metadata.Broker{ID: reg.ID, IncarnationID: reg.IncarnationID, Listeners: slices.Clone(reg.Listeners), Rack: reg.Rack}
	if _, err := b.commitLocked(metadata.Event{Type: metadata.EventBrokerRegistered, Broker: br}); err != nil {
		return metadata.Broker{}, err
	}
	return b.st.Brokers[reg.ID].Clone(), nil
}

func (b *backend) Heartbeat(_ context.Context, id int32, epoch int64) (metadata.HeartbeatResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	br, ok := b.st.Brokers[id]
	switch {
	case !ok || br.Fenced:
		return metadata.HeartbeatResult{}, metadata.ErrFenced
	case br.Epoch != epoch:
		return metadata.HeartbeatResult{}, metadata.ErrStaleEpoch
	}
	return metadata.HeartbeatResult{Epoch: epoch, SessionTimeout: b.cfg.EffectiveSessionTimeout()}, nil
}

func (b *backend) UnregisterBroker(_ context.Context, id int32, epoch int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	br, ok := b.st.Brokers[id]
	if !ok {
		return nil
	}
	if br.Epoch != epoch {
		return metadata.ErrStaleEpoch
	}
	_, err := b.commitLocked(metadata.Event{Type: metadata.EventBrokerUnregistered, BrokerID: id})
	return err
}

func (b *backend) CreateTopic(_ context.Context, spec metadata.TopicSpec) (metadata.Topic, error) {
	if spec.Name == "" || spec.ID.IsZero() || len(spec.Partitions) == 0 {
		return metadata.Topic{}, fmt.Errorf("testplugin: %w: bad topic spec", metadata.ErrInvalid)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.st.Topics[spec.Name]; ok {
		return metadata.Topic{}, metadata.ErrTopicExists
	}
	t := metadata.Topic{Name: spec.Name, ID: spec.ID, Configs: spec.Configs, CreatedAt: b.st.Revision + 1}
	for i, ps := range spec.Partitions {
		if len(ps.Replicas) == 0 {
			return metadata.Topic{}, fmt.Errorf("testplugin: %w: partition %d has no replicas", metadata.ErrInvalid, i)
		}
		isr := ps.ISR
		if len(isr) == 0 {
			isr = ps.Replicas
		}
		t.Partitions = append(t.Partitions, metadata.Partition{Topic: spec.Name, Partition: int32(i),
			Replicas: slices.Clone(ps.Replicas), Leader: ps.Leader, ISR: slices.Clone(isr)})
	}
	if _, err := b.commitLocked(metadata.Event{Type: metadata.EventTopicCreated, Topic: t}); err != nil {
		return metadata.Topic{}, err
	}
	return b.st.Topics[spec.Name].Clone(), nil
}

func (b *backend) DeleteTopic(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.st.Topics[name]; !ok {
		return metadata.ErrUnknownTopic
	}
	_, err := b.commitLocked(metadata.Event{Type: metadata.EventTopicDeleted, TopicName: name})
	return err
}

func (b *backend) AlterPartition(_ context.Context, c metadata.PartitionChange) (metadata.Partition, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.st.Topics[c.Topic]
	if !ok || c.Partition < 0 || int(c.Partition) >= len(t.Partitions) {
		return metadata.Partition{}, metadata.ErrUnknownTopic
	}
	p := t.Partitions[c.Partition].Clone()
	if p.PartitionEpoch != c.ExpectedPartitionEpoch {
		return metadata.Partition{}, metadata.ErrStaleEpoch
	}
	if c.Replicas != nil {
		p.Replicas = slices.Clone(c.Replicas)
	}
	if c.Leader != metadata.NoLeader && !slices.Contains(p.Replicas, c.Leader) {
		return metadata.Partition{}, fmt.Errorf("testplugin: %w: leader is not a replica", metadata.ErrInvalid)
	}
	if c.Leader != p.Leader {
		p.LeaderEpoch++
	}
	p.Leader, p.ISR = c.Leader, slices.Clone(c.ISR)
	p.PartitionEpoch++
	if _, err := b.commitLocked(metadata.Event{Type: metadata.EventPartitionChanged, Partition: p}); err != nil {
		return metadata.Partition{}, err
	}
	return p, nil
}

func (b *backend) AllocateProducerIDs(_ context.Context, n int) (int64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("testplugin: %w: n must be positive", metadata.ErrInvalid)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	first := b.st.NextProducerID
	if _, err := b.commitLocked(metadata.Event{Type: metadata.EventProducerIDsAllocated, NextProducerID: first + int64(n)}); err != nil {
		return 0, err
	}
	return first, nil
}

func (b *backend) Snapshot(context.Context) (metadata.State, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return metadata.State{}, metadata.ErrUnavailable
	}
	return b.st.Clone(), nil
}

func (b *backend) Compact(_ context.Context, rev metadata.Revision) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	rev = min(rev, b.st.Revision)
	if rev <= b.disk.Compacted {
		return nil
	}
	b.disk.Compacted = rev
	return b.persist()
}

// Watch feeds the channel from one goroutine, which ends with ctx or Close.
func (b *backend) Watch(ctx context.Context, from metadata.Revision) (<-chan metadata.WatchBatch, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if from < b.disk.Compacted {
		return nil, fmt.Errorf("testplugin: watch from %d, history starts after %d: %w", from, b.disk.Compacted, metadata.ErrCompacted)
	}
	ch := make(chan metadata.WatchBatch)
	go func() {
		defer close(ch)
		next := from
		for {
			b.mu.Lock()
			var pending []metadata.WatchBatch
			for _, batch := range b.disk.Batches {
				if batch.Revision > next {
					pending = append(pending, batch)
				}
			}
			changed, closed := b.changed, b.closed
			b.mu.Unlock()
			if closed {
				select {
				case ch <- metadata.WatchBatch{Err: metadata.ErrUnavailable}:
				case <-ctx.Done():
				}
				return
			}
			for _, batch := range pending {
				select {
				case ch <- batch:
					next = batch.Revision
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

func (b *backend) Info(context.Context) (metadata.Info, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return metadata.Info{
		Name:         "test",
		Version:      "0.0.1",
		Capabilities: []metadata.Capability{metadata.CapPersistence, metadata.CapCompact},
		NodeID:       b.cfg.NodeID,
		Leader:       b.cfg.NodeID,
		Members:      []metadata.Member{{ID: b.cfg.NodeID, Address: fmt.Sprintf("starts=%d", b.disk.Starts), Voter: true, Leader: true}},
	}, nil
}

func (b *backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.changed)
	}
	return nil
}
