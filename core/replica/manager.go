package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Cluster is what the Manager needs of the broker's *cluster.Cluster.
type Cluster interface {
	// BrokerID is this broker's id.
	BrokerID() int32
	// Current returns the latest Image (nil before the first) and a
	// channel closed when a newer one replaces it.
	Current() (img *cluster.Image, changed <-chan struct{})
	// AlterPartition changes a partition's leader and ISR by
	// compare-and-set on its partition epoch (metadata.ErrStaleEpoch when
	// stale) and returns once this broker's Image includes the change.
	AlterPartition(ctx context.Context, change metadata.PartitionChange) (metadata.Partition, error)
}

var _ Cluster = (*cluster.Cluster)(nil)

// Partitions is what the Manager needs of the broker's *partition.Manager.
type Partitions interface {
	// Partitions returns every hosted replica.
	Partitions() []*partition.Partition
	// WaitRevision waits until the replicas reflect an image at revision
	// rev or later.
	WaitRevision(ctx context.Context, rev metadata.Revision) error
}

var _ Partitions = (*partition.Manager)(nil)

// Manager is a broker's replication: it fetches, as a follower, every
// partition this broker hosts whose leader is another broker (one fetcher
// goroutine and one connection per leader broker, batched over its
// partitions); as a leader, it shrinks and expands each partition's ISR
// through AlterPartition; and when a partition's leader is fenced, the
// first live in-sync replica in assignment order (or, with
// unclean.leader.election.enable, the first live replica) takes over by
// AlterPartition with the leader epoch bumped.
//
// Lifecycle: New, Start, Close. Start runs the Manager's goroutine, which
// follows the cluster Image and owns the fetchers (started, re-assigned and
// stopped as leadership moves); Close stops all of them and waits.
type Manager struct {
	cfg      Config
	cl       Cluster
	parts    Partitions
	log      *slog.Logger
	brokerID int32

	fetchers map[int32]*fetcher // run goroutine only
	tracks   map[*partition.Partition]*isrTrack

	// draining is set by ControlledShutdown: no more taking leadership
	// back, no more fetching partitions out of whose ISR this broker is.
	draining atomic.Bool

	ctx       context.Context
	cancel    context.CancelFunc
	lifeMu    sync.Mutex
	started   bool
	closed    bool
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New returns a Manager for the broker cl names, replicating the replicas
// of parts. logger nil discards logs. Nothing runs until Start.
func New(cfg Config, cl Cluster, parts Partitions, logger *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cl == nil || parts == nil {
		return nil, fmt.Errorf("%w: nil cluster or partitions", ErrInvalidConfig)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		cfg: cfg, cl: cl, parts: parts, log: logger, brokerID: cl.BrokerID(),
		fetchers: map[int32]*fetcher{},
		tracks:   map[*partition.Partition]*isrTrack{},
	}
	// The Manager lives until Close; nothing else roots its context.
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// ErrClosed: the Manager is closed.
var ErrClosed = errors.New("replica: closed")

// Start starts replicating. It returns at once; it is idempotent; after
// Close it returns ErrClosed.
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
	m.wg.Add(1)
	go m.run()
	if m.cfg.AutoLeaderRebalanceEnable {
		m.wg.Add(1)
		go m.rebalanceLoop()
	}
	return nil
}

// Close stops every fetcher and the Manager's goroutine and waits for
// them. Idempotent.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.lifeMu.Lock()
		m.closed = true
		m.lifeMu.Unlock()
		m.cancel()
		m.wg.Wait()
	})
	return nil
}

// run is the Manager's goroutine: on every new Image it elects leaders
// where it must and re-assigns the fetchers; every check interval it
// manages the ISR of the partitions it leads (and retries elections).
func (m *Manager) run() {
	defer m.wg.Done()
	defer func() {
		for id, f := range m.fetchers {
			f.stop()
			delete(m.fetchers, id)
		}
	}()
	ticker := time.NewTicker(m.cfg.checkInterval())
	defer ticker.Stop()
	var prev *cluster.Image
	for {
		img, changed := m.cl.Current()
		if img != nil && img != prev {
			prev = img
			wctx, cancel := context.WithTimeout(m.ctx, m.cfg.CallTimeout)
			err := m.parts.WaitRevision(wctx, img.Revision())
			cancel()
			if m.ctx.Err() != nil {
				return
			}
			if err != nil {
				m.log.Debug("replica: partitions have not applied the image yet", "revision", int64(img.Revision()), "error", err)
			}
			m.elect(img)
			m.assign(img)
			m.reassign(img)
		}
		select {
		case <-changed:
		case <-ticker.C:
			if img != nil {
				m.elect(img)
				m.assign(img)
				m.manageISR(img, time.Now())
				m.reassign(img)
			}
		case <-m.ctx.Done():
			return
		}
	}
}

// assign gives each leader's fetcher the partitions this broker follows
// under it, starting and stopping fetchers as needed. During a controlled
// shutdown, only the partitions whose ISR includes this broker are
// fetched: a replica that is going away must not rejoin an ISR.
func (m *Manager) assign(img *cluster.Image) {
	draining := m.draining.Load()
	byLeader := map[int32][]*partition.Partition{}
	for _, p := range m.parts.Partitions() {
		st, ok := p.FollowerState()
		if !ok || !img.IsLive(st.LeaderID) {
			continue
		}
		if draining && !slices.Contains(p.State().ISR, m.brokerID) {
			continue // the ISR as the replica applied it, not older
		}
		byLeader[st.LeaderID] = append(byLeader[st.LeaderID], p)
	}
	for id, f := range m.fetchers {
		addr, _ := brokerAddr(img, id)
		if _, ok := byLeader[id]; !ok || addr != f.addr {
			f.stop()
			delete(m.fetchers, id)
		}
	}
	for id, ps := range byLeader {
		f := m.fetchers[id]
		if f == nil {
			addr, ok := brokerAddr(img, id)
			if !ok {
				continue
			}
			f = newFetcher(m, id, addr)
			m.fetchers[id] = f
		}
		f.assign(ps)
	}
}

// brokerAddr is the Kafka address of a live broker: its first listener,
// the one Metadata answers.
func brokerAddr(img *cluster.Image, id int32) (string, bool) {
	b, ok := img.Broker(id)
	if !ok || b.Fenced || len(b.Listeners) == 0 {
		return "", false
	}
	l := b.Listeners[0]
	return net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))), true
}
