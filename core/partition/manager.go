package partition

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/core/internal/atomicfile"
	"github.com/chronik-go/chronik/core/topicconfig"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Cluster is what the Manager needs of the broker's *cluster.Cluster: its
// broker id and the watch-fed metadata image with its change channel.
type Cluster interface {
	// BrokerID is this broker's id.
	BrokerID() int32
	// Current returns the latest Image (nil before the first) and a
	// channel closed when a newer one replaces it.
	Current() (img *cluster.Image, changed <-chan struct{})
}

var _ Cluster = (*cluster.Cluster)(nil)

// ProducerIDAllocator reserves blocks of producer ids;
// metadata.Backend.AllocateProducerIDs is one.
type ProducerIDAllocator interface {
	// AllocateProducerIDs reserves n consecutive ids and returns the
	// first; blocks never overlap across brokers and restarts.
	AllocateProducerIDs(ctx context.Context, n int) (first int64, err error)
}

var _ ProducerIDAllocator = metadata.Backend(nil)

// partKey identifies a partition by topic name and number.
type partKey struct {
	topic string
	index int32
}

// Manager hosts this broker's partition replicas. It follows the metadata
// image (subscribed through Cluster.Current, never polled): every
// partition whose replicas include this broker gets its log opened under
// <DataDir>/<topic>-<partition> (with a partition.metadata file naming the
// topic id, so that a deleted and re-created topic never reuses old data),
// takes the leader role when the image names this broker leader (at the
// image's leader epoch) and the follower role otherwise, and gets its
// topic's configs applied. A partition that leaves the image, or this
// broker's replicas, is closed and its directory deleted. Retention runs
// every RetentionCheckInterval.
//
// Lifecycle: New, Start, Close. Start runs one goroutine owned by the
// Manager (the image and maintenance loop), which alone opens, changes and
// closes partitions; Close stops it and closes every partition. Lookups
// (Partition, Partitions) and NewProducerID are safe for concurrent use.
type Manager struct {
	cfg      Config
	dataDir  string
	cl       Cluster
	ids      ProducerIDAllocator
	log      *slog.Logger
	brokerID int32

	mu    sync.RWMutex // guards parts; written only by the run goroutine
	parts map[partKey]*Partition

	applied atomic.Pointer[appliedRev]

	pidSem          chan struct{} // one block allocation at a time
	pidMu           sync.Mutex
	pidNext, pidEnd int64

	ctx       context.Context // ends when Close begins
	cancel    context.CancelFunc
	lifeMu    sync.Mutex
	started   bool
	closed    bool
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	runErr    error // set by the run goroutine before it exits
}

// appliedRev is the revision of the last image the Manager applied, with
// a channel closed when a later one is applied.
type appliedRev struct {
	rev     metadata.Revision
	changed chan struct{}
}

// New returns a Manager for the broker cl names, storing partitions under
// cfg.DataDir (created if missing) and allocating producer ids from ids.
// logger nil discards logs. Nothing runs until Start.
func New(cfg Config, cl Cluster, ids ProducerIDAllocator, logger *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cl == nil || ids == nil {
		return nil, fmt.Errorf("%w: nil cluster or producer id allocator", ErrInvalidConfig)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("%w: data directory %q: %w", ErrInvalidConfig, cfg.DataDir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("partition: creating data directory: %w", err)
	}
	m := &Manager{
		cfg:      cfg,
		dataDir:  dir,
		cl:       cl,
		ids:      ids,
		log:      logger,
		brokerID: cl.BrokerID(),
		parts:    map[partKey]*Partition{},
		pidSem:   make(chan struct{}, 1),
	}
	// The Manager lives until Close; nothing else roots its context.
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.applied.Store(&appliedRev{changed: make(chan struct{})})
	return m, nil
}

// DataDir returns the absolute data directory.
func (m *Manager) DataDir() string { return m.dataDir }

// Config returns the Manager's configuration.
func (m *Manager) Config() Config { return m.cfg }

// Start starts following the metadata image. It returns at once;
// partitions open in the background (WaitRevision waits for them). It is
// idempotent; after Close it returns ErrClosed.
func (m *Manager) Start() error {
	m.lifeMu.Lock()
	defer m.lifeMu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.started {
		return nil
	}
	m.started = true
	m.wg.Add(2)
	go m.run()
	go m.cleaner()
	return nil
}

// Close stops the Manager and closes every partition, writing each one's
// producer state snapshot and high watermark checkpoint. Requests in
// progress finish first; later ones get ErrNotLeader. Close is idempotent;
// it returns the first errors of closing the partitions.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.lifeMu.Lock()
		m.closed = true
		started := m.started
		m.lifeMu.Unlock()
		m.cancel()
		if started {
			m.wg.Wait()
			m.closeErr = m.runErr
		}
	})
	return m.closeErr
}

// Partition returns the hosted replica of topic's partition index, if this
// broker hosts it and has opened it. The replica may be a follower; its
// methods say so.
func (m *Manager) Partition(topic string, index int32) (*Partition, bool) {
	m.mu.RLock()
	p, ok := m.parts[partKey{topic, index}]
	m.mu.RUnlock()
	return p, ok
}

// Partitions returns every hosted replica, sorted by topic and partition.
func (m *Manager) Partitions() []*Partition {
	m.mu.RLock()
	out := make([]*Partition, 0, len(m.parts))
	for _, p := range m.parts {
		out = append(out, p)
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Partition) int {
		return cmp.Or(strings.Compare(a.topic, b.topic), cmp.Compare(a.index, b.index))
	})
	return out
}

// AppliedRevision returns the revision of the last metadata image whose
// partitions the Manager has opened, reconfigured or deleted.
func (m *Manager) AppliedRevision() metadata.Revision { return m.applied.Load().rev }

// WaitRevision waits until the Manager has applied an image at revision
// rev or later (for example one that includes a topic just created). It
// returns ctx's error when ctx ends first, ErrClosed when the Manager
// closes.
func (m *Manager) WaitRevision(ctx context.Context, rev metadata.Revision) error {
	for {
		a := m.applied.Load()
		if a.rev >= rev {
			return nil
		}
		select {
		case <-a.changed:
		case <-ctx.Done():
			return fmt.Errorf("partition: waiting for revision %d (applied %d): %w", rev, a.rev, ctx.Err())
		case <-m.ctx.Done():
			return ErrClosed
		}
	}
}

// NewProducerID hands out a producer id for InitProducerId, from a block
// of ProducerIDBlockSize ids reserved through the metadata backend (one
// backend call per block; concurrent callers wait for it). Ids are unique
// across the cluster and restarts; an id of a block not used up before a
// restart is never handed out. ErrProducerIDs when the backend fails,
// ctx's error wrapped in it when ctx ends first, ErrClosed after Close.
func (m *Manager) NewProducerID(ctx context.Context) (int64, error) {
	for {
		if m.ctx.Err() != nil {
			return -1, ErrClosed
		}
		m.pidMu.Lock()
		if m.pidNext < m.pidEnd {
			id := m.pidNext
			m.pidNext++
			m.pidMu.Unlock()
			return id, nil
		}
		m.pidMu.Unlock()
		select {
		case m.pidSem <- struct{}{}:
		case <-ctx.Done():
			return -1, fmt.Errorf("%w: %w", ErrProducerIDs, ctx.Err())
		}
		m.pidMu.Lock()
		empty := m.pidNext >= m.pidEnd
		m.pidMu.Unlock()
		if empty {
			n := m.cfg.ProducerIDBlockSize
			first, err := m.ids.AllocateProducerIDs(ctx, n)
			if err != nil {
				<-m.pidSem
				return -1, fmt.Errorf("%w: allocating %d producer ids: %w", ErrProducerIDs, n, err)
			}
			m.pidMu.Lock()
			m.pidNext, m.pidEnd = first, first+int64(n)
			m.pidMu.Unlock()
		}
		<-m.pidSem
	}
}

// run is the Manager's goroutine: it applies every new image and runs
// maintenance every RetentionCheckInterval, until Close; then it closes
// every partition.
func (m *Manager) run() {
	defer m.wg.Done()
	m.removeLeftovers()
	ticker := time.NewTicker(m.cfg.RetentionCheckInterval)
	defer ticker.Stop()
	var prev *cluster.Image
	retry := map[string]bool{} // topics with partitions that failed to open
	for {
		img, changed := m.cl.Current()
		if img != nil && img != prev {
			m.reconcile(prev, img, retry)
			prev = img
			m.publishApplied(img.Revision())
		}
		select {
		case <-changed:
		case <-ticker.C:
			if len(retry) > 0 && prev != nil {
				names := make([]string, 0, len(retry))
				for name := range retry {
					names = append(names, name)
				}
				clear(retry)
				m.applyTopics(prev, names, retry)
			}
			m.maintain()
		case <-m.ctx.Done():
			m.runErr = m.closeAll()
			return
		}
	}
}

func (m *Manager) publishApplied(rev metadata.Revision) {
	old := m.applied.Load()
	if rev <= old.rev {
		return
	}
	m.applied.Store(&appliedRev{rev: rev, changed: make(chan struct{})})
	close(old.changed)
}

// reconcile applies the topics that changed between prev and img (every
// topic when prev is nil, and then also looks for directories of
// partitions this broker no longer hosts).
func (m *Manager) reconcile(prev, img *cluster.Image, retry map[string]bool) {
	var names []string
	if prev == nil {
		names = slices.Clone(img.TopicNames())
	} else {
		names = img.ChangedTopics(prev)
	}
	// Topics that vanished between images we did not see (a
	// re-snapshot) are covered: ChangedTopics lists deleted names, and
	// at the first image nothing is open yet.
	m.applyTopics(img, names, retry)
	if prev == nil {
		m.scanStrays(img)
	}
}

// applyTopics brings the hosted partitions of the named topics in line
// with img: closes and deletes those no longer hosted, opens new ones, and
// sets every one's role and configuration. Topics whose partitions failed
// to open are added to retry.
func (m *Manager) applyTopics(img *cluster.Image, names []string, retry map[string]bool) {
	for _, name := range names {
		t, exists := img.Topic(name)
		// Close replicas no longer hosted: the topic is gone or was
		// re-created (another id), or this broker left the replicas.
		for _, p := range m.topicPartitions(name) {
			if exists && p.id == t.ID && int(p.index) < len(t.Partitions) && slices.Contains(t.Partitions[p.index].Replicas, m.brokerID) {
				continue
			}
			m.remove(p)
		}
		if !exists {
			continue
		}
		// Configs: a topic stored with an unknown or bad value (by an
		// older or foreign writer) keeps its partitions' previous
		// configuration; new partitions get the defaults.
		vals, err := topicconfig.Resolve(t.Configs, m.cfg.TopicDefaults)
		cfgOK := err == nil
		if !cfgOK {
			m.log.Warn("partition: topic has invalid configs; keeping the previous configuration", "topic", name, "error", err)
		}
		for i, part := range t.Partitions {
			if !slices.Contains(part.Replicas, m.brokerID) {
				continue
			}
			cfg := m.cfg.Resolve(vals)
			p, ok := m.Partition(name, int32(i))
			if ok && !cfgOK {
				cfg = p.role.Load().cfg
			}
			if !ok {
				p, err = m.open(t, int32(i), cfg)
				if err != nil {
					if m.ctx.Err() == nil {
						m.log.Error("partition: opening failed; retrying later", "topic", name, "partition", i, "error", err)
						retry[name] = true
					}
					continue
				}
				m.mu.Lock()
				m.parts[partKey{name, int32(i)}] = p
				m.mu.Unlock()
			}
			p.setRole(part, cfg)
		}
	}
}

// topicPartitions returns the hosted replicas of a topic.
func (m *Manager) topicPartitions(topic string) []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*Partition
	for k, p := range m.parts {
		if k.topic == topic {
			out = append(out, p)
		}
	}
	return out
}

// remove takes p out of the lookup, closes it and deletes its directory.
func (m *Manager) remove(p *Partition) {
	m.mu.Lock()
	if m.parts[partKey{p.topic, p.index}] == p {
		delete(m.parts, partKey{p.topic, p.index})
	}
	m.mu.Unlock()
	if err := p.close(false); err != nil {
		m.log.Warn("partition: closing a deleted partition failed", "topic", p.topic, "partition", p.index, "error", err)
	}
	if err := removeDir(m.dataDir, p.dir); err != nil {
		m.log.Error("partition: deleting partition directory failed", "topic", p.topic, "partition", p.index, "error", err)
		return
	}
	m.log.Info("partition: deleted", "topic", p.topic, "partition", p.index, "topic_id", p.id.String())
}

// open opens (creating if needed) the replica of partition index of t.
// A directory left by another incarnation of the topic (another topic id)
// is deleted first.
func (m *Manager) open(t metadata.Topic, index int32, cfg TopicConfig) (*Partition, error) {
	dir := filepath.Join(m.dataDir, dirName(t.Name, index))
	logger := m.log.With("topic", t.Name, "partition", index)
	meta, ok, err := readMeta(dir)
	if err != nil {
		return nil, err
	}
	if ok && meta.TopicID != t.ID {
		logger.Info("partition: deleting the data of an earlier topic with this name", "old_topic_id", meta.TopicID.String(), "topic_id", t.ID.String())
		if err := removeDir(m.dataDir, dir); err != nil {
			return nil, err
		}
		ok = false
	}
	if !ok {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("partition: creating %s: %w", dir, err)
		}
		if err := atomicfile.SyncDir(m.dataDir); err != nil {
			return nil, fmt.Errorf("partition: creating %s: %w", dir, err)
		}
		if err := writeFileAtomic(dir, metaFile, partitionMeta{Topic: t.Name, Partition: index, TopicID: t.ID}.encode()); err != nil {
			return nil, err
		}
	}
	l, err := commitlog.Open(m.ctx, dir, cfg.Log, commitlog.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	ps, fromSnapshot, err := loadProducers(dir, l)
	if err != nil {
		l.Close()
		return nil, err
	}
	p := &Partition{
		topic:     t.Name,
		index:     index,
		id:        t.ID,
		dir:       dir,
		brokerID:  m.brokerID,
		maxFetch:  m.cfg.MaxFetchBytes,
		log:       l,
		logger:    logger,
		producers: ps,
		hwWritten: -1,
	}
	hw := l.LogStartOffset()
	if ck, ok := readHW(dir); ok {
		hw = min(max(ck, l.LogStartOffset()), l.LogEndOffset())
		p.hwWritten = ck
	}
	p.hw.Store(hw)
	p.role.Store(&role{leaderID: metadata.NoLeader, epoch: -1, cfg: cfg})
	logger.Info("partition: opened", "topic_id", t.ID.String(), "log_start_offset", l.LogStartOffset(),
		"log_end_offset", l.LogEndOffset(), "high_watermark", hw, "producers", ps.count(), "producer_snapshot", fromSnapshot)
	return p, nil
}

// removeLeftovers removes directories of interrupted deletions.
func (m *Manager) removeLeftovers() {
	entries, err := os.ReadDir(m.dataDir)
	if err != nil {
		m.log.Error("partition: reading data directory failed", "dir", m.dataDir, "error", err)
		return
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasSuffix(e.Name(), deleteSuffix) {
			if err := os.RemoveAll(filepath.Join(m.dataDir, e.Name())); err != nil {
				m.log.Warn("partition: removing a deleted partition's leftovers failed", "dir", e.Name(), "error", err)
			}
		}
	}
}

// scanStrays looks at partition directories this broker does not host
// after the first image: a directory of another incarnation of a topic
// (its topic id differs) or of a partition whose replicas no longer
// include this broker is deleted, as the metadata proves it obsolete; a
// directory of a topic the metadata does not know is left in place with a
// warning (it may be data the metadata lost, which only an operator can
// judge).
func (m *Manager) scanStrays(img *cluster.Image) {
	entries, err := os.ReadDir(m.dataDir)
	if err != nil {
		m.log.Error("partition: reading data directory failed", "dir", m.dataDir, "error", err)
		return
	}
	for _, e := range entries {
		topic, index, ok := parseDirName(e.Name())
		if !e.IsDir() || !ok {
			continue
		}
		if _, hosted := m.Partition(topic, index); hosted {
			continue
		}
		dir := filepath.Join(m.dataDir, e.Name())
		meta, hasMeta, err := readMeta(dir)
		t, known := img.Topic(topic)
		switch {
		case err != nil || !hasMeta:
			m.log.Warn("partition: directory without valid partition metadata; left in place", "dir", dir, "error", err)
		case !known:
			m.log.Warn("partition: directory of a topic the cluster metadata does not have; left in place", "dir", dir, "topic_id", meta.TopicID.String())
		case meta.TopicID != t.ID || int(index) >= len(t.Partitions) || !slices.Contains(t.Partitions[index].Replicas, m.brokerID):
			if err := removeDir(m.dataDir, dir); err != nil {
				m.log.Error("partition: deleting an obsolete partition directory failed", "dir", dir, "error", err)
				continue
			}
			m.log.Info("partition: deleted an obsolete partition directory", "dir", dir, "topic_id", meta.TopicID.String())
		}
	}
}

// maintain runs retention and producer expiry on every partition.
func (m *Manager) maintain() {
	now := time.Now()
	for _, p := range m.Partitions() {
		if m.ctx.Err() != nil {
			return
		}
		p.maintain(now, m.cfg.ProducerIDExpiration)
	}
}

// closeAll closes every partition (at Close).
func (m *Manager) closeAll() error {
	m.mu.Lock()
	parts := m.parts
	m.parts = map[partKey]*Partition{}
	m.mu.Unlock()
	var errs []error
	for _, p := range parts {
		if err := p.close(true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DiskUsage returns the size and the usable space of the file system
// holding the data directory (DescribeLogDirs); ok is false when the
// platform or the file system cannot tell.
func (m *Manager) DiskUsage() (total, usable int64, ok bool) { return diskUsage(m.dataDir) }
