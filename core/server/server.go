package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/chronik-go/chronik/core/protocol"
)

// Server accepts Kafka client connections and serves them with the APIs of
// its broker's registry. Create it with New, then Start; Close stops it.
// Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	broker  *protocol.Broker
	apis    *protocol.Registry
	log     *slog.Logger
	metrics *metrics
	epoch   time.Time // monotonic origin of conn.lastActive

	// ctx is the parent of every connection's context; cancel is called
	// by Close. Both are set by Start.
	ctx    context.Context
	cancel context.CancelFunc

	// wg counts every goroutine the server owns: accept loops, the idle
	// reaper, and one per connection (which itself waits for the
	// connection's writer and deferred waits before finishing).
	wg sync.WaitGroup

	mu         sync.Mutex // guards the fields below; never held while blocking
	state      serverState
	listeners  []net.Listener
	conns      map[*conn]struct{}
	advertised string
}

type serverState int

const (
	stateNew serverState = iota
	stateStarted
	stateClosed
)

// New validates cfg and returns a server for broker, not yet listening.
// broker's fields are read by handlers from now on and must not change; a
// nil broker.Logger is replaced by logger. logger may be nil (discard). The
// server's metrics are registered on cfg.Metrics here (an error if another
// server's are already there).
func New(cfg Config, broker *protocol.Broker, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if broker == nil {
		return nil, errors.New("server: nil broker")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if broker.Logger == nil {
		broker.Logger = logger
	}
	cfg.ListenAddrs = append([]string(nil), cfg.ListenAddrs...)
	s := &Server{
		cfg:    cfg,
		broker: broker,
		apis:   broker.APIs(),
		log:    logger,
		epoch:  time.Now(),
		conns:  make(map[*conn]struct{}),
	}
	s.metrics = newMetrics(s.apis.APIs())
	if cfg.Metrics != nil {
		if err := s.metrics.register(cfg.Metrics); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Start listens on every configured address and returns once all are
// listening; connections are then served until Close. ctx bounds the
// listening step only (cancelling it later does not stop the server; its
// values reach handlers' contexts). If one address fails, the others are
// closed and the error returned; the server is then closed. Errors:
// ErrAlreadyStarted, ErrServerClosed, ctx's error, or the listen error.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateStarted:
		return ErrAlreadyStarted
	case stateClosed:
		return ErrServerClosed
	}

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("server: start: %w", err)
	}
	var lc net.ListenConfig
	for _, addr := range s.cfg.ListenAddrs {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			for _, l := range s.listeners {
				_ = l.Close()
			}
			s.listeners = nil
			s.state = stateClosed
			return fmt.Errorf("server: listening on %s: %w", addr, err)
		}
		s.listeners = append(s.listeners, ln)
	}
	s.advertised = s.cfg.AdvertisedAddr
	if s.advertised == "" {
		// The configured host (it may be a name) with the bound port.
		host, _, _ := net.SplitHostPort(s.cfg.ListenAddrs[0])
		_, port, _ := net.SplitHostPort(s.listeners[0].Addr().String())
		s.advertised = net.JoinHostPort(host, port)
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.state = stateStarted

	addrs := make([]string, len(s.listeners))
	for i, ln := range s.listeners {
		addrs[i] = ln.Addr().String()
		s.wg.Go(func() { s.acceptLoop(ln) })
	}
	if s.cfg.IdleTimeout > 0 {
		s.wg.Go(s.reapIdle)
	}
	s.log.Info("kafka listener started", "addrs", addrs, "advertised", s.advertised)
	return nil
}

// Addr returns the bound address of the first listener (useful with port
// 0), or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listeners) == 0 {
		return nil
	}
	return s.listeners[0].Addr()
}

// Addrs returns the bound addresses of all listeners, in ListenAddrs
// order, or nil before Start.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, 0, len(s.listeners))
	for _, ln := range s.listeners {
		out = append(out, ln.Addr())
	}
	return out
}

// AdvertisedAddr returns the host:port clients should connect to:
// Config.AdvertisedAddr, or the first listen address with its bound port.
// Empty before Start.
func (s *Server) AdvertisedAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.advertised
}

// Close stops accepting, closes every connection (cancelling the contexts
// of running handlers and deferred waits) and waits for every goroutine the
// server started, then unregisters its metrics. It is idempotent and may be
// called before Start; concurrent calls all wait. It returns listener close
// errors, if any.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	started := s.state == stateStarted
	s.state = stateClosed
	listeners := s.listeners
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	var errs []error
	if started {
		s.cancel()
		for _, ln := range listeners {
			if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, fmt.Errorf("server: closing listener %s: %w", ln.Addr(), err))
			}
		}
		for _, c := range conns {
			c.close(reasonShutdown, nil)
		}
	}
	s.wg.Wait()
	if s.cfg.Metrics != nil {
		s.metrics.unregister(s.cfg.Metrics)
	}
	if started {
		s.log.Info("kafka listener stopped")
	}
	return errors.Join(errs...)
}

// acceptLoop accepts connections until the listener is closed.
func (s *Server) acceptLoop(ln net.Listener) {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: back off as
			// net/http does, and keep the listener.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accepting connection failed", "addr", ln.Addr().String(), "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		s.startConn(nc)
	}
}

// startConn registers nc and starts serving it, or closes it when the
// server is closing or full.
func (s *Server) startConn(nc net.Conn) {
	s.metrics.accepted.Inc()
	if tc, ok := nc.(*net.TCPConn); ok {
		if n := s.cfg.SocketSendBufferBytes; n > 0 {
			_ = tc.SetWriteBuffer(n)
		}
		if n := s.cfg.SocketReceiveBufferBytes; n > 0 {
			_ = tc.SetReadBuffer(n)
		}
	}

	s.mu.Lock()
	if s.state != stateStarted {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	if s.cfg.MaxConnections > 0 && len(s.conns) >= s.cfg.MaxConnections {
		s.mu.Unlock()
		s.metrics.rejected.Inc()
		s.log.Debug("connection rejected", "remote", nc.RemoteAddr().String(), "max_connections", s.cfg.MaxConnections)
		_ = nc.Close()
		return
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	// Add under mu: Close sets stateClosed under mu before waiting, so
	// no Add can follow its Wait.
	s.wg.Go(func() {
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	})
	s.mu.Unlock()
	s.metrics.open.Inc()
}

// reapIdle closes connections idle for longer than IdleTimeout, checking
// several times per timeout period.
func (s *Server) reapIdle() {
	idle := s.cfg.IdleTimeout
	period := min(max(idle/8, time.Millisecond), 30*time.Second)
	t := time.NewTicker(period)
	defer t.Stop()
	var stale []*conn
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			cutoff := int64(now.Sub(s.epoch) - idle)
			stale = stale[:0]
			s.mu.Lock()
			for c := range s.conns {
				if c.lastActive.Load() < cutoff {
					stale = append(stale, c)
				}
			}
			s.mu.Unlock()
			for _, c := range stale {
				c.close(reasonIdle, nil)
			}
			clear(stale)
		}
	}
}
