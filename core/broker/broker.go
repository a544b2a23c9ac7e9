package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/group"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/core/protocol"
	"github.com/chronik-go/chronik/core/replica"
	"github.com/chronik-go/chronik/core/server"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Broker is one running chronik broker.
type Broker struct {
	cfg     Config
	log     *slog.Logger
	backend metadata.Backend
	reg     *prometheus.Registry

	cluster *cluster.Cluster
	parts   *partition.Manager
	repl    *replica.Manager
	groups  *group.Coordinator
	proto   *protocol.Broker
	server  *server.Server

	closeMu  sync.Mutex // held by Close throughout
	mu       sync.Mutex
	started  bool
	closed   bool
	httpSrv  *http.Server
	httpAddr string
	httpDone chan struct{}
}

// New builds a broker over backend (which the caller owns and closes after
// Close). It opens nothing yet.
func New(cfg Config, backend metadata.Backend, logger *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker: invalid configuration: %w", err)
	}
	if backend == nil {
		return nil, errors.New("broker: no metadata backend")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Broker{cfg: cfg, log: logger, backend: backend, reg: prometheus.NewRegistry()}, nil
}

// Start opens the Kafka listener and the HTTP port, then starts the cluster
// loops (registration is asynchronous: Start does not wait for the backend).
// ctx bounds the start only.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started || b.closed {
		return errors.New("broker: Start called twice or after Close")
	}
	b.started = true

	scfg := b.cfg.Server
	if err := resolvePortZero(&scfg); err != nil {
		return err
	}
	scfg.Metrics = b.reg
	host, port, err := advertised(scfg)
	if err != nil {
		return err
	}

	ccfg := b.cfg.Cluster
	ccfg.BrokerID = b.cfg.BrokerID
	ccfg.Rack = b.cfg.Rack
	ccfg.Listeners = []metadata.Listener{{Name: b.cfg.ListenerName, Host: host, Port: port}}
	cl, err := cluster.New(ccfg, b.backend, b.log.With("component", "cluster"))
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.cluster = cl
	pcfg := b.cfg.Partition
	pcfg.DataDir = b.cfg.DataDir
	pcfg.TopicDefaults = b.cfg.Protocol.TopicDefaults
	parts, err := partition.New(pcfg, cl, b.backend, b.log.With("component", "partition"))
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.parts = parts
	repl, err := replica.New(b.cfg.Replica, cl, parts, b.log.With("component", "replica"))
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.repl = repl
	groups, err := group.New(b.cfg.Group, cl, parts, b.log.With("component", "group"))
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.groups = groups
	b.proto = &protocol.Broker{NodeID: b.cfg.BrokerID, Logger: b.log.With("component", "protocol"),
		Cluster: cl, Partitions: parts, Groups: groups, Config: b.cfg.Protocol}

	srv, err := server.New(scfg, b.proto, b.log.With("component", "server"))
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.server = srv

	b.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b.reg.MustRegister(b.stateCollectors()...)
	if b.cfg.HTTPAddr != "" {
		if err := b.startHTTP(ctx); err != nil {
			_ = srv.Close()
			return err
		}
	}
	if err := cl.Start(); err != nil {
		_ = b.stopHTTP()
		_ = srv.Close()
		return fmt.Errorf("broker: %w", err)
	}
	if err := parts.Start(); err != nil {
		_ = b.stopHTTP()
		_ = srv.Close()
		_ = cl.Close()
		return fmt.Errorf("broker: %w", err)
	}
	if err := groups.Start(); err != nil {
		_ = b.stopHTTP()
		_ = srv.Close()
		_ = parts.Close()
		_ = cl.Close()
		return fmt.Errorf("broker: %w", err)
	}
	if err := repl.Start(); err != nil {
		_ = b.stopHTTP()
		_ = srv.Close()
		_ = groups.Close()
		_ = parts.Close()
		_ = cl.Close()
		return fmt.Errorf("broker: %w", err)
	}
	b.log.Info("broker started", "broker_id", b.cfg.BrokerID, "kafka", srv.AdvertisedAddr(), "http", b.httpAddr, "data_dir", b.cfg.DataDir)
	return nil
}

// resolvePortZero replaces a port 0 of the first listen address by a free
// port when the advertised address must be known before listening (the
// cluster registers it): it binds the address once to learn a free port.
// Another process could take that port before the listener binds it again;
// port 0 is for tests.
func resolvePortZero(c *server.Config) error {
	if c.AdvertisedAddr != "" || len(c.ListenAddrs) == 0 {
		return nil
	}
	host, port, err := net.SplitHostPort(c.ListenAddrs[0])
	if err != nil || port != "0" {
		return nil // Validate reported a bad address already
	}
	ln, err := net.Listen("tcp", c.ListenAddrs[0])
	if err != nil {
		return fmt.Errorf("broker: finding a free port on %s: %w", c.ListenAddrs[0], err)
	}
	_, free, _ := net.SplitHostPort(ln.Addr().String())
	_ = ln.Close()
	addrs := append([]string(nil), c.ListenAddrs...)
	addrs[0] = net.JoinHostPort(host, free)
	c.ListenAddrs = addrs
	return nil
}

// advertised returns the host and port clients must use.
func advertised(c server.Config) (string, int32, error) {
	addr := c.AdvertisedAddr
	if addr == "" {
		addr = c.ListenAddrs[0]
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("broker: advertised address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("broker: advertised address %q: bad port", addr)
	}
	return host, int32(port), nil
}

func (b *Broker) startHTTP(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", b.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("broker: http listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !b.Ready() {
			http.Error(w, "not ready: this broker's registration is not in its metadata image yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	b.registerAdmin(mux)
	if b.cfg.HTTPPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	b.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	b.httpAddr = ln.Addr().String()
	b.httpDone = make(chan struct{})
	go func() {
		defer close(b.httpDone)
		if err := b.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Error("http server stopped", "error", err)
		}
	}()
	return nil
}

func (b *Broker) stopHTTP() error {
	if b.httpSrv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := b.httpSrv.Shutdown(ctx)
	<-b.httpDone
	b.httpSrv = nil
	return err
}

// Close shuts the broker down. First a controlled shutdown
// (replica.Manager.ControlledShutdown, bounded by
// Config.Replica.ControlledShutdownTimeout): the leadership of every
// partition this broker leads moves to another in-sync replica while the
// Kafka listener still serves, so that followers keep fetching from it
// and clients are redirected rather than left without a leader. Then it
// stops the listener, the HTTP port, the group coordinator, replication,
// the partitions and the cluster loops (unregistering this broker), and
// waits for all of them. Concurrent calls wait for the first.
func (b *Broker) Close() error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	repl := b.repl
	b.mu.Unlock()
	// Outside mu: the HTTP handlers (readiness, admin) keep answering
	// during the handoff.
	if repl != nil {
		repl.ControlledShutdown(context.Background())
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	if b.server != nil {
		errs = append(errs, b.server.Close())
	}
	errs = append(errs, b.stopHTTP())
	if b.groups != nil {
		errs = append(errs, b.groups.Close())
	}
	if b.repl != nil {
		errs = append(errs, b.repl.Close())
	}
	if b.parts != nil {
		errs = append(errs, b.parts.Close())
	}
	if b.cluster != nil {
		errs = append(errs, b.cluster.Close())
	}
	return errors.Join(errs...)
}

// Ready reports whether this broker is registered and sees its own
// registration in its metadata image.
func (b *Broker) Ready() bool {
	b.mu.Lock()
	cl := b.cluster
	b.mu.Unlock()
	return cl != nil && cl.Ready()
}

// WaitReady waits until Ready or ctx ends.
func (b *Broker) WaitReady(ctx context.Context) error {
	b.mu.Lock()
	cl := b.cluster
	b.mu.Unlock()
	if cl == nil {
		return errors.New("broker: not started")
	}
	return cl.WaitReady(ctx)
}

// Addr is the advertised Kafka address (host:port), empty before Start.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.server == nil {
		return ""
	}
	return b.server.AdvertisedAddr()
}

// HTTPAddr is the bound HTTP address, empty when disabled or not started.
func (b *Broker) HTTPAddr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.httpAddr
}

// Cluster is the broker's view of the cluster (nil before Start).
func (b *Broker) Cluster() *cluster.Cluster {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cluster
}
