package memory

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/chronik-go/chronik/plugins"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Factory is the memory backend's plugin factory: what a plugin main hands
// to plugins.Serve (see plugins/examples/chronik-metadata-memory).
var Factory = plugins.Factory{
	Name:         Name,
	Version:      Version,
	Capabilities: Capabilities,
	New:          New,
}

// Settings keys of metadata.Config.Settings; see the package doc.
const (
	SettingHistory         = "history"
	SettingInitialRevision = "initial-revision"
)

// proxyBackoff is how fast a proxy node reconnects to a restarted holder.
var proxyBackoff = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
	MinConnectTimeout: 2 * time.Second,
}

// New builds one node of a memory cluster from its configuration (plugin
// mode). The node whose NodeID is cfg.Peers[0].ID, or the only node when
// Peers is empty, holds a new Store and, when Peers[0].Address is set,
// serves it with plugins.RegisterBackend on a gRPC server listening there;
// every other node is a proxy: a plugins.Client dialled lazily to
// Peers[0].Address. The gRPC between nodes is plaintext and unauthenticated:
// a test template, not for production.
//
// A proxy whose holder is down fails every call with
// metadata.ErrUnavailable, at the latest by the call's deadline, and its
// watches end with an ErrUnavailable batch; it reconnects by itself when the
// holder is back (with an empty state, see SettingInitialRevision). Info
// on every node reports its own NodeID, Leader = Peers[0].ID and Members
// from Peers. Close stops the node's server or client and its store; ctx
// only bounds New itself.
//
// ErrInvalid for a NodeID missing from a non-empty Peers, a holder address
// missing with several peers, or bad Settings; a holder that cannot listen
// fails with an error wrapping ErrUnavailable.
func New(ctx context.Context, cfg metadata.Config) (metadata.Backend, error) {
	scfg, err := storeConfig(cfg)
	if err != nil {
		return nil, err
	}
	scfg.Logger = plugins.Logger(ctx) // the plugin's logger under plugins.Serve
	if len(cfg.Peers) > 0 && !slices.ContainsFunc(cfg.Peers, func(p metadata.Peer) bool { return p.ID == cfg.NodeID }) {
		return nil, fmt.Errorf("memory: node id %q is not among the peers: %w", cfg.NodeID, metadata.ErrInvalid)
	}
	if len(cfg.Peers) > 1 && cfg.Peers[0].Address == "" {
		return nil, fmt.Errorf("memory: holder %q has no address: %w", cfg.Peers[0].ID, metadata.ErrInvalid)
	}
	if len(cfg.Peers) == 0 || cfg.Peers[0].ID == cfg.NodeID {
		return newHolder(ctx, cfg, scfg)
	}
	return newProxy(cfg)
}

// storeConfig builds the Store configuration of a holder from cfg.
func storeConfig(cfg metadata.Config) (Config, error) {
	sc := Config{
		NodeID:          cfg.NodeID,
		Peers:           slices.Clone(cfg.Peers),
		SessionTimeout:  cfg.EffectiveSessionTimeout(),
		InitialRevision: metadata.Revision(time.Now().UnixNano()),
	}
	for k, v := range cfg.Settings {
		bad := func(err error) error {
			return fmt.Errorf("memory: setting %s=%q: %v: %w", k, v, err, metadata.ErrInvalid)
		}
		switch k {
		case SettingHistory:
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return Config{}, bad(errors.New("want a positive integer"))
			}
			sc.HistoryLimit = n
		case SettingInitialRevision:
			if v == "clock" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return Config{}, bad(errors.New(`want "clock" or a non-negative integer`))
			}
			sc.InitialRevision = metadata.Revision(n)
		default:
			return Config{}, bad(errors.New("unknown key"))
		}
	}
	return sc, sc.Validate()
}

// holder is the node that holds the Store, optionally serving it to the
// other nodes.
type holder struct {
	*Store
	srv  *grpc.Server // nil when not serving
	wg   sync.WaitGroup
	once sync.Once
}

func newHolder(ctx context.Context, cfg metadata.Config, scfg Config) (*holder, error) {
	st, err := NewStore(scfg)
	if err != nil {
		return nil, err
	}
	h := &holder{Store: st}
	if len(cfg.Peers) == 0 || cfg.Peers[0].Address == "" {
		return h, nil
	}
	addr := cfg.Peers[0].Address
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("memory: listen on %s for the other nodes: %w: %w", addr, metadata.ErrUnavailable, err)
	}
	h.srv = grpc.NewServer()
	plugins.RegisterBackend(h.srv, st)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		// Serve returns when Close stops the server; the error is then nil
		// or about the closed listener, and nobody waits for it.
		_ = h.srv.Serve(lis)
	}()
	return h, nil
}

// Close closes the store (every watch, local or remote, ends with
// ErrUnavailable), then stops the server and waits for it. Idempotent.
func (h *holder) Close() error {
	h.once.Do(func() {
		h.Store.Close()
		if h.srv != nil {
			h.srv.Stop()
		}
		h.wg.Wait()
	})
	return nil
}

// proxy is a node that reaches the holder's Store over gRPC.
type proxy struct {
	c      *plugins.Client
	cc     *grpc.ClientConn
	nodeID string
	once   sync.Once
}

var (
	_ metadata.Backend      = (*proxy)(nil)
	_ metadata.Compactor    = (*proxy)(nil)
	_ metadata.TopicUpdater = (*proxy)(nil)
)

func newProxy(cfg metadata.Config) (*proxy, error) {
	addr := cfg.Peers[0].Address
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(proxyBackoff))
	if err != nil {
		return nil, fmt.Errorf("memory: client for holder %s: %w", addr, metadata.ErrInvalid)
	}
	return &proxy{c: plugins.NewClient(cc), cc: cc, nodeID: cfg.NodeID}, nil
}

// unreachable makes an error of a call whose deadline ran out before the
// holder answered also match ErrUnavailable.
func unreachable(err error) error {
	if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, metadata.ErrUnavailable) {
		return fmt.Errorf("memory: holder did not answer in time: %w: %w", metadata.ErrUnavailable, err)
	}
	return err
}

func (p *proxy) RegisterBroker(ctx context.Context, reg metadata.BrokerRegistration) (metadata.Broker, error) {
	b, err := p.c.RegisterBroker(ctx, reg)
	return b, unreachable(err)
}

func (p *proxy) Heartbeat(ctx context.Context, id int32, epoch int64) (metadata.HeartbeatResult, error) {
	r, err := p.c.Heartbeat(ctx, id, epoch)
	return r, unreachable(err)
}

func (p *proxy) UnregisterBroker(ctx context.Context, id int32, epoch int64) error {
	return unreachable(p.c.UnregisterBroker(ctx, id, epoch))
}

func (p *proxy) CreateTopic(ctx context.Context, spec metadata.TopicSpec) (metadata.Topic, error) {
	t, err := p.c.CreateTopic(ctx, spec)
	return t, unreachable(err)
}

func (p *proxy) DeleteTopic(ctx context.Context, name string) error {
	return unreachable(p.c.DeleteTopic(ctx, name))
}

func (p *proxy) AlterPartition(ctx context.Context, ch metadata.PartitionChange) (metadata.Partition, error) {
	part, err := p.c.AlterPartition(ctx, ch)
	return part, unreachable(err)
}

func (p *proxy) AllocateProducerIDs(ctx context.Context, n int) (int64, error) {
	first, err := p.c.AllocateProducerIDs(ctx, n)
	return first, unreachable(err)
}

func (p *proxy) Snapshot(ctx context.Context) (metadata.State, error) {
	st, err := p.c.Snapshot(ctx)
	return st, unreachable(err)
}

func (p *proxy) Watch(ctx context.Context, from metadata.Revision) (<-chan metadata.WatchBatch, error) {
	ch, err := p.c.Watch(ctx, from)
	return ch, unreachable(err)
}

func (p *proxy) AddPartitions(ctx context.Context, topic string, expectedCount int32, parts []metadata.PartitionSpec) (metadata.Topic, error) {
	t, err := p.c.AddPartitions(ctx, topic, expectedCount, parts)
	return t, unreachable(err)
}

func (p *proxy) SetTopicConfigs(ctx context.Context, topic string, expected, configs map[string]string) (metadata.Topic, error) {
	t, err := p.c.SetTopicConfigs(ctx, topic, expected, configs)
	return t, unreachable(err)
}

func (p *proxy) Compact(ctx context.Context, rev metadata.Revision) error {
	return unreachable(p.c.Compact(ctx, rev))
}

// Info asks the holder (so that it fails like every call when the holder is
// down) and reports this node's id.
func (p *proxy) Info(ctx context.Context) (metadata.Info, error) {
	in, err := p.c.Info(ctx)
	if err != nil {
		return metadata.Info{}, unreachable(err)
	}
	in.NodeID = p.nodeID
	return in, nil
}

// Close ends the proxy's watches (ErrUnavailable batches) and its
// connection; the holder's store is untouched. Idempotent.
func (p *proxy) Close() error {
	var err error
	p.once.Do(func() {
		p.c.Close()
		err = p.cc.Close()
	})
	return err
}
