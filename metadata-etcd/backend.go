package etcdmeta

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"

	"github.com/chronik-go/chronik/plugins/metadata"
)

var (
	_ metadata.Backend   = (*Backend)(nil)
	_ metadata.Compactor = (*Backend)(nil)
)

// errClosed is returned by every call after Close.
var errClosed = fmt.Errorf("etcdmeta: backend closed: %w", metadata.ErrUnavailable)

// errCorrupt marks stored data that does not follow the layout (doc.go).
// The backend cannot serve a right answer then, so it serves none: such
// errors reach callers as metadata.ErrUnavailable and are not retried.
var errCorrupt = fmt.Errorf("corrupt metadata: %w", metadata.ErrUnavailable)

// Backend is one chronik node's view of the metadata stored in etcd under
// one prefix: a metadata.Backend and metadata.Compactor. Several Backends
// (one per chronik node, in any processes) with the same endpoints and
// prefix are the nodes of one cluster; etcd orders and replicates every
// change.
//
// All methods are safe for concurrent use. Every call is bounded by
// Config.RequestTimeout as well as by its context; when etcd has no quorum
// or cannot be reached, calls fail with metadata.ErrUnavailable by then,
// and the backend keeps retrying in the background (its watches resume, its
// fencer keeps trying). After Close every call fails with ErrUnavailable.
//
// A Backend runs one fencer goroutine (see fencer.go) and one goroutine per
// open Watch; Close stops and waits for all of them.
type Backend struct {
	cfg  Config
	log  *slog.Logger
	keys layout
	ttl  int64 // lease TTL of a broker session, seconds

	// ctx ends at Close; every goroutine of the backend watches it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards the fields below; it is never held across a network call.
	mu       sync.Mutex
	cli      *clientv3.Client
	closed   bool
	dialing  *dialing      // the connect in progress, if any
	dialFail time.Time     // last failed connect, to pace retries
	dialWait time.Duration // how long after it the next connect may start
	dialErr  error         // its error

	leader  leaderTracker
	renewer renewer
}

// New returns a Backend for cfg and starts its fencer. It does not wait for
// etcd: with etcd unreachable New succeeds, calls fail with
// metadata.ErrUnavailable, and the backend connects once etcd is back. It
// fails only for a bad Config (metadata.ErrInvalid, naming the setting) or
// unreadable TLS files. ctx bounds the construction only. The caller must
// Close the Backend.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if _, err := cfg.tlsConfig(); err != nil {
		return nil, err
	}
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b := &Backend{
		cfg:    cfg,
		log:    cfg.Logger.With("backend", Name, "prefix", cfg.Prefix),
		keys:   layout{prefix: cfg.Prefix},
		ttl:    cfg.leaseTTL(),
		ctx:    bctx,
		cancel: cancel,
	}
	// A full session timeout in which heartbeats can get through: from the
	// first answer of the new term, plus one attempt that may have been
	// stuck on the old leader when it came.
	b.leader.holdFor = time.Duration(b.ttl)*time.Second + b.attemptTimeout()
	b.leader.log = b.log
	b.renewer.b = b
	// The fencer connects at once, in the background; calls wait for it.
	b.goBackground(b.runFencer)
	return b, nil
}

// tlsConfig builds the client TLS configuration, nil for plaintext.
func (c Config) tlsConfig() (*tls.Config, error) {
	https := slices.ContainsFunc(c.Endpoints, func(ep string) bool { return strings.HasPrefix(ep, "https://") })
	if c.CAFile == "" && c.CertFile == "" && !https {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcdmeta: %s: %w: %w", SettingCAFile, err, metadata.ErrInvalid)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcdmeta: %s %q holds no PEM certificate: %w", SettingCAFile, c.CAFile, metadata.ErrInvalid)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcdmeta: %s/%s: %w: %w", SettingCertFile, SettingKeyFile, err, metadata.ErrInvalid)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// client returns the etcd client, connecting first if needed. Connecting
// runs on its own goroutine, one at a time, and callers wait for it at
// most until their ctx ends. It fails only when authentication
// (username/password) cannot reach etcd or is refused; without auth the
// client connects lazily and never fails here.
func (b *Backend) client(ctx context.Context) (*clientv3.Client, error) {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, errClosed
		}
		if b.cli != nil {
			cli := b.cli
			b.mu.Unlock()
			return cli, nil
		}
		d := b.dialing
		if d == nil {
			if !b.dialFail.IsZero() && time.Since(b.dialFail) < b.dialWait {
				err := b.dialErr
				b.mu.Unlock()
				return nil, fmt.Errorf("etcdmeta: connecting to etcd at %s: %w: %w", b.endpoints(), err, metadata.ErrUnavailable)
			}
			d = &dialing{done: make(chan struct{})}
			b.dialing = d
			if !b.goLocked(func() { b.connect(d) }) {
				b.dialing = nil
				b.mu.Unlock()
				return nil, errClosed
			}
		}
		b.mu.Unlock()
		select {
		case <-d.done:
			if d.err != nil {
				return nil, fmt.Errorf("etcdmeta: connecting to etcd at %s: %w: %w", b.endpoints(), d.err, metadata.ErrUnavailable)
			}
		case <-ctx.Done():
			return nil, b.wrap(ctx, "connect", ctx.Err())
		}
	}
}

// dialing is a connect in progress; err is set before done is closed.
type dialing struct {
	done chan struct{}
	err  error
}

// connect dials etcd and publishes the outcome in d and b.
func (b *Backend) connect(d *dialing) {
	cli, err := b.dial()
	b.mu.Lock()
	defer b.mu.Unlock()
	d.err = err
	defer close(d.done)
	b.dialing = nil
	switch {
	case err != nil:
		// Connecting authenticates (a bcrypt check on the server): pace
		// the retries, 200ms doubling up to 5s.
		b.dialFail, b.dialErr = time.Now(), err
		b.dialWait = min(max(2*b.dialWait, 200*time.Millisecond), 5*time.Second)
		b.log.Warn("connecting to etcd failed; will retry", "endpoints", b.endpoints(), "err", err)
	case b.closed:
		cli.Close() //nolint:errcheck // closing a client nobody used
	default:
		b.cli, b.dialWait = cli, 0
	}
}

// dial creates the etcd client. Its lifetime context is the backend's.
func (b *Backend) dial() (*clientv3.Client, error) {
	tc, err := b.cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	return clientv3.New(clientv3.Config{
		Endpoints:            b.cfg.Endpoints,
		DialTimeout:          b.cfg.DialTimeout,
		DialKeepAliveTime:    6 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		TLS:                  tc,
		Username:             b.cfg.Username,
		Password:             b.cfg.Password,
		Context:              b.ctx,
		Logger:               zap.NewNop(),
		// gRPC's default reconnect backoff grows to two minutes; an etcd
		// member that comes back must be used again within seconds.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: b.cfg.DialTimeout,
		})},
	})
}

// touch is the operation every transaction that changes contract state
// carries: a put of the changed key, whose mod revision is thereby the
// revision of the last contract change (see Snapshot).
func (b *Backend) touch() clientv3.Op { return clientv3.OpPut(b.keys.changed(), "") }

// goBackground runs f on a goroutine owned by the backend (Close waits for
// it) and reports whether it did: after Close it does not.
func (b *Backend) goBackground(f func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.goLocked(f)
}

// goLocked is goBackground with b.mu held.
func (b *Backend) goLocked(f func()) bool {
	if b.closed {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f()
	}()
	return true
}

func (b *Backend) endpoints() string { return strings.Join(b.cfg.Endpoints, ",") }

// op starts one call: it checks that the backend is open, bounds ctx by the
// request timeout and by Close, and returns the client.
func (b *Backend) op(ctx context.Context, what string) (*clientv3.Client, context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("etcdmeta: %s: %w", what, err)
	}
	octx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	stop := context.AfterFunc(b.ctx, cancel)
	done := func() { stop(); cancel() }
	bo := &backoff{max: 500 * time.Millisecond}
	for {
		cli, err := b.client(octx)
		if err == nil {
			return cli, octx, done, nil
		}
		// A connect that failed (auth against an unreachable etcd) is
		// tried again while the call has time, unless it was refused.
		if errors.Is(err, errClosed) || octx.Err() != nil || !b.retry(octx, bo, what, err) {
			done()
			return nil, nil, nil, fmt.Errorf("etcdmeta: %s: %w", what, err)
		}
	}
}

// wrap translates an etcd client error into the contract's sentinels,
// saying what was being done:
//
//   - compacted revision: metadata.ErrCompacted;
//   - requests etcd refuses as malformed or too large, or a future
//     revision: metadata.ErrInvalid;
//   - everything else (no leader, timeouts, connection errors, auth
//     failures, ctx ending): metadata.ErrUnavailable, also wrapping ctx's
//     error when ctx ended.
func (b *Backend) wrap(ctx context.Context, what string, err error) error {
	switch {
	case errors.Is(err, errClosed):
		return err
	case errors.Is(err, errCorrupt):
		return fmt.Errorf("etcdmeta: %s: under %q: %w", what, b.cfg.Prefix, err)
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("etcdmeta: %s: %w: %w", what, err, metadata.ErrCompacted)
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge),
		errors.Is(err, rpctypes.ErrFutureRev), errors.Is(err, rpctypes.ErrDuplicateKey),
		errors.Is(err, rpctypes.ErrEmptyKey):
		return fmt.Errorf("etcdmeta: %s: etcd refused the request: %w: %w", what, err, metadata.ErrInvalid)
	}
	if b.ctx.Err() != nil {
		return fmt.Errorf("etcdmeta: %s: %w", what, errClosed)
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("etcdmeta: %s: etcd at %s did not answer in time (%v): %w: %w", what, b.endpoints(), err, metadata.ErrUnavailable, cerr)
	}
	return fmt.Errorf("etcdmeta: %s: etcd at %s: %v: %w", what, b.endpoints(), err, metadata.ErrUnavailable)
}

// transient reports whether err may go away by itself: connection errors,
// no leader, leader changes, server-side timeouts. Errors from the caller's
// context, refusals (compaction, malformed requests) and authorization
// failures are not.
func transient(err error) bool {
	switch {
	case err == nil, errors.Is(err, errClosed), errors.Is(err, errCorrupt),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, rpctypes.ErrCompacted), errors.Is(err, rpctypes.ErrTooManyOps),
		errors.Is(err, rpctypes.ErrRequestTooLarge), errors.Is(err, rpctypes.ErrFutureRev),
		errors.Is(err, rpctypes.ErrDuplicateKey), errors.Is(err, rpctypes.ErrEmptyKey),
		errors.Is(err, rpctypes.ErrPermissionDenied), errors.Is(err, rpctypes.ErrAuthFailed),
		errors.Is(err, rpctypes.ErrUserEmpty), errors.Is(err, rpctypes.ErrNoSpace),
		errors.Is(err, metadata.ErrInvalid):
		return false
	}
	return true
}

// attemptTimeout bounds one attempt of a call (each call is a loop of
// attempts within its context and the request timeout): an attempt stuck
// on a member that lost its leader is abandoned and retried, so a call in
// flight when etcd's leader dies succeeds once a new leader is elected.
func (b *Backend) attemptTimeout() time.Duration {
	return max(time.Second, b.cfg.RequestTimeout/3)
}

// attempt returns the context of one attempt of a call with context ctx.
func (b *Backend) attempt(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.attemptTimeout())
}

// retry decides whether a call makes another attempt after err: err must
// be transient, the backend open and ctx must leave time for the backoff.
// It sleeps the backoff before reporting true. Every call of the backend
// is a read-decide-write loop, so another attempt re-reads the state;
// writes whose outcome is unknown are recognised by the loops (see each
// method).
func (b *Backend) retry(ctx context.Context, bo *backoff, what string, err error) bool {
	if b.ctx.Err() != nil || ctx.Err() != nil {
		return false
	}
	// An attempt's own timeout, while the call has time left, is transient.
	attemptEnded := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	if !attemptEnded && !transient(err) {
		return false
	}
	d := bo.next()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	b.log.Debug("etcd call failed; retrying", "op", what, "err", err, "backoff", d)
	return pause(ctx, d) == nil
}

// Close stops the fencer and every watch (their channels end with an Err
// batch wrapping metadata.ErrUnavailable), waits for them and closes the
// etcd client. Broker sessions are left alone: they live in etcd and end by
// their own timeouts. Close is idempotent; later calls fail with
// ErrUnavailable.
func (b *Backend) Close() error {
	b.cancel() // first: it ends a connect in progress
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
	b.mu.Lock()
	cli := b.cli
	b.cli = nil
	b.mu.Unlock()
	if cli != nil {
		if err := cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("etcdmeta: close etcd client: %w", err)
		}
	}
	return nil
}

// Info describes the backend. NodeID is this chronik node's id. The quorum
// is etcd's: Members are the etcd members (ID: the member name, or its hex
// id if unnamed; Address: its first client URL; Voter: not a learner) and
// Leader is the name of the etcd leader as seen by the first endpoint that
// answers ("" if none answers or there is no leader). Leader is a chronik
// node id only where etcd members are named after the chronik nodes they
// run beside. With etcd unreachable Info fails with
// metadata.ErrUnavailable.
func (b *Backend) Info(ctx context.Context) (metadata.Info, error) {
	info := metadata.Info{Name: Name, Version: Version, Capabilities: slices.Clone(Capabilities), NodeID: b.cfg.NodeID}
	cli, ctx, done, err := b.op(ctx, "info")
	if err != nil {
		return info, err
	}
	defer done()
	bo := &backoff{max: 500 * time.Millisecond}
	var ml *clientv3.MemberListResponse
	for {
		actx, cancel := b.attempt(ctx)
		ml, err = cli.MemberList(actx)
		cancel()
		if err == nil {
			break
		}
		if !b.retry(ctx, bo, "info", err) {
			return info, b.wrap(ctx, "info: list etcd members", err)
		}
	}
	b.leader.observe(ml.Header)
	leader := b.etcdLeader(ctx, cli)
	for _, m := range ml.Members {
		mem := metadata.Member{ID: memberName(m), Voter: !m.IsLearner, Leader: m.ID == leader}
		if mem.Leader {
			info.Leader = mem.ID
		}
		if len(m.ClientURLs) > 0 {
			mem.Address = m.ClientURLs[0]
		}
		info.Members = append(info.Members, mem)
	}
	return info, nil
}

// etcdLeader asks every endpoint at once for its status (each bounded to a
// second, so that dead endpoints cost no more) and returns the leader seen
// by the answer with the highest raft term, 0 if none answers.
func (b *Backend) etcdLeader(ctx context.Context, cli *clientv3.Client) uint64 {
	eps := cli.Endpoints()
	answers := make([]*clientv3.StatusResponse, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			if st, err := cli.Status(sctx, ep); err == nil {
				answers[i] = st
			}
		})
	}
	wg.Wait()
	var best *clientv3.StatusResponse
	for _, st := range answers {
		if st != nil && st.Leader != 0 && (best == nil || st.RaftTerm > best.RaftTerm) {
			best = st
		}
	}
	if best == nil {
		return 0
	}
	b.leader.observe(best.Header)
	return best.Leader
}

func memberName(m *etcdserverpb.Member) string {
	if m.Name != "" {
		return m.Name
	}
	return fmt.Sprintf("%x", m.ID)
}

// Compact discards etcd's history before rev: Watch from an earlier
// revision then fails with metadata.ErrCompacted. etcd's history is shared
// by every prefix, so this compacts it for every cluster on the same etcd.
// An already compacted revision is a no-op; a revision after the current
// one is metadata.ErrInvalid.
func (b *Backend) Compact(ctx context.Context, rev metadata.Revision) error {
	if rev <= 0 {
		return nil
	}
	cli, ctx, done, err := b.op(ctx, "compact")
	if err != nil {
		return err
	}
	defer done()
	bo := &backoff{max: 500 * time.Millisecond}
	for {
		actx, cancel := b.attempt(ctx)
		_, err := cli.Compact(actx, int64(rev))
		cancel()
		switch {
		case err == nil, errors.Is(err, rpctypes.ErrCompacted):
			return nil
		case b.retry(ctx, bo, "compact", err):
			continue
		}
		return b.wrap(ctx, fmt.Sprintf("compact to revision %d", rev), err)
	}
}

// leaderTracker follows the raft term etcd reports in every response
// header. A higher term means an etcd leader election happened; the fencer
// then holds off for holdFor (one session timeout), so that every broker
// gets a full timeout after a leader change (see fencer.go).
type leaderTracker struct {
	holdFor time.Duration
	log     *slog.Logger

	mu        sync.Mutex
	term      uint64
	holdUntil time.Time
}

// observe records the term of a response header.
func (l *leaderTracker) observe(h *etcdserverpb.ResponseHeader) {
	if h == nil || h.RaftTerm == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if h.RaftTerm <= l.term {
		return
	}
	l.holdUntil = time.Now().Add(l.holdFor)
	if l.term != 0 {
		l.log.Info("etcd leader changed; holding off fencing for a session timeout", "term", h.RaftTerm, "previous-term", l.term, "hold", l.holdFor)
	} else {
		// The first term this backend sees: it cannot tell whether the
		// leader just changed (leases revoked in a stall may still be
		// arriving), so it starts the way a new Raft leader does and
		// gives every session a full timeout from now.
		l.log.Debug("fencer starting; holding off fencing for a session timeout", "term", h.RaftTerm, "hold", l.holdFor)
	}
	l.term = h.RaftTerm
}

// holdOff returns until when fencing must wait (zero or past: not).
func (l *leaderTracker) holdOff() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holdUntil
}
