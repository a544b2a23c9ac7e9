package raftmeta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	"google.golang.org/grpc"

	"github.com/chronik-go/chronik/plugins"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Name and Version identify the backend in Info.
const (
	Name    = "raft"
	Version = "0.1.0"
)

// Capabilities are what the Raft backend implements.
var Capabilities = []metadata.Capability{
	metadata.CapPersistence, metadata.CapMultiNode, metadata.CapFailover,
	metadata.CapCompact, metadata.CapMembership, metadata.CapTopicUpdates,
}

var (
	_ metadata.Backend      = (*Node)(nil)
	_ metadata.Compactor    = (*Node)(nil)
	_ metadata.Membership   = (*Node)(nil)
	_ metadata.TopicUpdater = (*Node)(nil)
)

// errClosed is returned by every call on a closed node.
var errClosed = fmt.Errorf("raftmeta: node closed: %w", metadata.ErrUnavailable)

// Retry pacing of calls that wait for a leader.
const (
	retryMin = 5 * time.Millisecond
	retryMax = 100 * time.Millisecond
)

// File names inside the data directory.
const (
	logStoreFile = "raft.db"
	snapshotDir  = "snapshots" // created by raft's file snapshot store
	snapshotKeep = 2
)

// Node is one node of a Raft metadata cluster: a metadata.Backend,
// metadata.Compactor, metadata.Membership and metadata.TopicUpdater.
//
// All methods are safe for concurrent use. Writes are proposed to the
// leader (forwarded when this node is a follower) and return once applied;
// while there is no leader they retry until ctx ends, then fail with
// metadata.ErrUnavailable (also matching ctx's error). A write whose outcome
// is unknown when ctx ends may still commit; a retry by this package never
// applies twice (request ids). Reads (Snapshot) are linearizable. Watch
// delivers this node's applied changes.
type Node struct {
	o     options
	log   *slog.Logger
	fsm   *fsm
	sess  *sessions
	raft  *raft.Raft
	trans *raft.NetworkTransport
	hb    *heartbeatGate
	mux   *mux
	store *raftboltdb.BoltStore
	grpc  *grpc.Server

	notifyCh chan bool
	obsCh    chan raft.Observation
	observer *raft.Observer

	// done is closed by Close; wg counts every goroutine of the node. ctx
	// is cancelled by Close too; the node's own work derives from it.
	done   chan struct{}
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc

	// mu guards closed (and the wg.Add of goroutines started after Open).
	mu     sync.Mutex
	closed bool

	// sigMu guards leaderSig and ready.
	sigMu sync.Mutex
	// leaderSig is closed and replaced whenever the leader or this node's
	// leader readiness may have changed.
	leaderSig chan struct{}
	// ready: this node is the leader and has applied its term's barrier.
	ready bool

	waitMu  sync.Mutex
	waiters map[reqID][]chan *result

	connMu sync.Mutex
	conns  map[string]*grpc.ClientConn

	closeOnce sync.Once
	closeErr  error
}

// Open starts a node from cfg (see the package documentation for Peers,
// DataDir and Settings). A fresh data directory with raft.bootstrap (the
// default) bootstraps the cluster of cfg.Peers; a directory with Raft state
// resumes it and ignores the peer list except for this node's own address.
//
// Open returns once the node serves its Raft address; it does not wait for
// a leader. ctx bounds the construction only. Errors wrap metadata.ErrInvalid
// for an unusable configuration. logger nil discards logs. The caller must
// Close the node.
func Open(ctx context.Context, cfg metadata.Config, logger *slog.Logger) (*Node, error) {
	return open(ctx, cfg, logger, nil)
}

// open is Open with an optional listener already bound to the bind address
// (tests use it to avoid racing for ports).
func open(ctx context.Context, cfg metadata.Config, logger *slog.Logger, ln net.Listener) (n *Node, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("node", o.nodeID)
	if len(o.ignored) > 0 {
		logger.Warn("ignoring settings outside the raft. namespace", "keys", o.ignored)
	}
	n = &Node{
		o:         o,
		log:       logger,
		fsm:       newFSM(logger, o.history),
		sess:      newSessions(o.sessionTimeout),
		notifyCh:  make(chan bool, 8),
		obsCh:     make(chan raft.Observation, 64),
		done:      make(chan struct{}),
		leaderSig: make(chan struct{}),
		waiters:   map[reqID][]chan *result{},
		conns:     map[string]*grpc.ClientConn{},
	}
	n.fsm.onApply = n.onApply
	// The node's root context: cancelled by Close, it bounds the node's
	// own background work (leader terms), never a caller's call.
	n.ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))

	// Undo what was built if a later step fails.
	var undo []func()
	cancel := n.cancel
	defer func() {
		if err != nil {
			cancel()
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	if err := os.MkdirAll(o.dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("raftmeta: creating data dir: %w", err)
	}
	hlog := plugins.NewHCLogger(slog.New(renameBuiltinKeys(logger.Handler())).With("component", "raft"))
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(o.dataDir, logStoreFile),
		BoltOptions: &bbolt.Options{Timeout: time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("raftmeta: opening the log store in %s (is another node using it?): %w", o.dataDir, err)
	}
	n.store = store
	undo = append(undo, func() { store.Close() })
	snaps, err := raft.NewFileSnapshotStoreWithLogger(o.dataDir, snapshotKeep, hlog.Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("raftmeta: opening the snapshot store: %w", err)
	}

	if ln == nil {
		var lc net.ListenConfig
		ln, err = lc.Listen(ctx, "tcp", o.bind)
		if err != nil {
			return nil, fmt.Errorf("raftmeta: listening on %s: %w", o.bind, err)
		}
	}
	m, err := newMux(ln, o.advertise, logger)
	if err != nil {
		ln.Close()
		return nil, err
	}
	n.mux = m
	undo = append(undo, func() {
		m.Close(true)
		m.closeListeners()
	})
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  streamLayer{m.raftLn},
		MaxPool: 3,
		Timeout: 5 * time.Second,
		Logger:  hlog.Named("transport"),
		// 1 disables pipelined replication: raft v1.7's pipeline can
		// deadlock when a follower answers Success=false (pipelineDecode
		// exits while a send waits on the in-flight queue), which stalls
		// replication to that follower and hangs Shutdown. Metadata writes
		// are few; one AppendEntries in flight per follower is plenty.
		MaxRPCsInFlight: 1,
	})
	n.trans = trans
	undo = append(undo, func() { trans.Close() })

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(o.nodeID)
	rc.Logger = hlog
	rc.HeartbeatTimeout = o.heartbeatTimeout
	rc.ElectionTimeout = o.electionTimeout
	rc.LeaderLeaseTimeout = o.leaderLease
	rc.CommitTimeout = o.commitTimeout
	rc.SnapshotThreshold = o.snapshotThreshold
	rc.SnapshotInterval = o.snapshotInterval
	rc.TrailingLogs = o.trailingLogs
	rc.NotifyCh = n.notifyCh
	// A removed node stays up so that it can be added again.
	rc.ShutdownOnRemove = false
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, configError("%v", err)
	}

	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return nil, fmt.Errorf("raftmeta: reading raft state: %w", err)
	}
	switch {
	case has:
		logger.Info("resuming raft state", "dir", o.dataDir)
	case o.bootstrap:
		var servers []raft.Server
		for _, p := range o.peers {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Address)})
		}
		if err := raft.BootstrapCluster(rc, store, store, snaps, n.trans, raft.Configuration{Servers: servers}); err != nil {
			return nil, fmt.Errorf("raftmeta: bootstrapping: %w", err)
		}
		logger.Info("bootstrapped raft cluster", "peers", peerIDs(o.peers), "dir", o.dataDir)
	default:
		logger.Info("starting without state and without bootstrap: waiting to be added to a cluster", "dir", o.dataDir)
	}

	logs, err := raft.NewLogCache(512, store)
	if err != nil {
		return nil, fmt.Errorf("raftmeta: log cache: %w", err)
	}
	n.hb = &heartbeatGate{}
	r, err := raft.NewRaft(rc, n.fsm, logs, store, snaps, gatedTransport{n.trans, n.hb})
	if err != nil {
		return nil, fmt.Errorf("raftmeta: starting raft: %w", err)
	}
	n.raft = r
	// raft answers heartbeats on the transport's connection goroutines,
	// which nothing waits for: one that passed raft's shutdown check
	// could still write the term to the store after Shutdown returned
	// and the store closed, and raft panics on a failed term write. The
	// gate lets Close wait for heartbeats in flight and refuse later ones.
	undo = append(undo, func() {
		r.Shutdown().Error()
		n.hb.close()
	})
	n.observer = raft.NewObserver(n.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	r.RegisterObserver(n.observer)

	n.grpc = grpc.NewServer()
	registerForward(n.grpc, n)
	n.wg.Add(3)
	go func() {
		defer n.wg.Done()
		_ = n.grpc.Serve(m.fwdLn)
	}()
	go n.observe()
	go n.leadership()
	logger.Info("raft metadata node started", "advertise", o.advertise, "bind", o.bind, "dir", o.dataDir)
	return n, nil
}

// goFunc runs f on a goroutine counted in n.wg, unless the node is closed.
func (n *Node) goFunc(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// checkOpen fails with errClosed after Close.
func (n *Node) checkOpen() error {
	select {
	case <-n.done:
		return errClosed
	default:
		return nil
	}
}

// enter checks ctx and that the node is open.
func (n *Node) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return n.checkOpen()
}

// Close stops the node: a leader first hands leadership to another voter
// (bounded by the election timeout), then Raft stops, watches end with an
// Err batch (metadata.ErrUnavailable) and every goroutine is waited for.
// The Raft state stays on disk. Calls after Close fail with
// metadata.ErrUnavailable. Idempotent.
func (n *Node) Close() error { return n.shutdown(false) }

// kill stops the node the way a crash would as far as other nodes can
// tell: its connections drop at once and leadership is not handed over.
func (n *Node) kill() error { return n.shutdown(true) }

func (n *Node) shutdown(kill bool) error {
	n.closeOnce.Do(func() {
		if kill {
			_ = n.mux.Close(true)
		} else if n.raft.State() == raft.Leader && n.otherVoters() > 0 {
			// Leadership transfer futures always resolve (raft answers them
			// on its leader loop, and on shutdown).
			ctx, cancel := context.WithTimeout(context.Background(), 2*n.o.electionTimeout)
			if resolved, err := n.awaitFuture(ctx, n.raft.LeadershipTransfer()); resolved && err != nil {
				n.log.Debug("leadership transfer on close failed", "error", err)
			}
			cancel()
		}
		n.mu.Lock()
		n.closed = true
		close(n.done)
		n.mu.Unlock()
		n.cancel()
		n.grpc.Stop()
		var errs []error
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raftmeta: raft shutdown: %w", err))
		}
		n.hb.close()
		n.raft.DeregisterObserver(n.observer)
		if err := n.mux.Close(true); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
		n.mux.closeListeners()
		n.closePeerConns()
		n.wg.Wait()
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raftmeta: closing the log store: %w", err))
		}
		n.closeErr = errors.Join(errs...)
		n.log.Info("raft metadata node stopped", "kill", kill)
	})
	return n.closeErr
}

// otherVoters counts the voters of the latest configuration other than this
// node.
func (n *Node) otherVoters() int {
	cnt := 0
	for _, s := range n.raft.GetConfiguration().Configuration().Servers {
		if s.Suffrage == raft.Voter && s.ID != raft.ServerID(n.o.nodeID) {
			cnt++
		}
	}
	return cnt
}

// observe turns raft observations into leader signals.
func (n *Node) observe() {
	defer n.wg.Done()
	for {
		select {
		case <-n.obsCh:
			n.signal()
		case <-n.done:
			return
		}
	}
}

// signal wakes everyone waiting for a leader change.
func (n *Node) signal() {
	n.sigMu.Lock()
	close(n.leaderSig)
	n.leaderSig = make(chan struct{})
	n.sigMu.Unlock()
}

// leaderSignal returns the channel closed on the next leader change.
func (n *Node) leaderSignal() <-chan struct{} {
	n.sigMu.Lock()
	defer n.sigMu.Unlock()
	return n.leaderSig
}

func (n *Node) setReady(ready bool) {
	n.sigMu.Lock()
	n.ready = ready
	close(n.leaderSig)
	n.leaderSig = make(chan struct{})
	n.sigMu.Unlock()
}

func (n *Node) isReady() bool {
	n.sigMu.Lock()
	defer n.sigMu.Unlock()
	return n.ready
}

// leadership follows raft's leadership notifications and runs one leader
// term goroutine while this node leads.
func (n *Node) leadership() {
	defer n.wg.Done()
	var term *leaderTerm
	end := func() {
		if term != nil {
			term.stop()
			term = nil
		}
	}
	defer end()
	for {
		select {
		case leader := <-n.notifyCh:
			n.signal()
			if leader && term == nil {
				term = n.startTerm()
			} else if !leader {
				end()
			}
		case <-n.done:
			return
		}
	}
}

// leaderTerm is the goroutine of one leadership term.
type leaderTerm struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (n *Node) startTerm() *leaderTerm {
	ctx, cancel := context.WithCancel(n.ctx)
	t := &leaderTerm{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		n.leadTerm(ctx)
	}()
	return t
}

// stop ends the term and waits for its goroutine.
func (t *leaderTerm) stop() {
	t.cancel()
	<-t.done
}

// leadTerm runs while this node leads: it commits a barrier, activates the
// session table and runs the reaper until ctx ends.
func (n *Node) leadTerm(ctx context.Context) {
	n.log.Info("became raft leader")
	defer n.log.Info("raft leadership ended")
	if err := n.barrier(ctx); err != nil {
		n.log.Debug("leader barrier failed", "error", err)
		return
	}
	// Not ready (no read index, so no Snapshot anywhere) before the state
	// has a cluster id: every Snapshot carries one.
	if err := n.ensureClusterID(ctx); err != nil {
		n.log.Debug("committing the cluster id failed", "error", err)
		return
	}
	n.sess.activate(n.fsm.liveSessions())
	n.setReady(true)
	defer func() {
		n.setReady(false)
		n.sess.deactivate()
	}()
	n.reap(ctx)
}

// barrier commits a no-op command and waits until it is applied here.
func (n *Node) barrier(ctx context.Context) error {
	_, err := n.leaderApply(ctx, cmdBarrier, struct{}{})
	return err
}

// ensureClusterID, on a leader whose barrier is applied (so its state is
// the committed one), commits a new cluster id if the state has none: once
// in the life of a cluster, by its first leader, or by the first leader of
// a build that has cluster ids over older state. The command sets the id
// only if none is set, so a retry, or a proposal by a leader deposed
// meanwhile, cannot change an id once set.
func (n *Node) ensureClusterID(ctx context.Context) error {
	if n.fsm.clusterID() != "" {
		return nil
	}
	id := metadata.NewClusterID()
	res, err := n.leaderApply(ctx, cmdSetClusterID, clusterIDBody{ID: id})
	if err != nil {
		return err
	}
	if err := res.err(); err != nil {
		return err
	}
	if res.ClusterID == id {
		n.log.Info("created the cluster id", "cluster_id", id)
	}
	return nil
}

// leaderApply commits a command of type typ on this node while it leads,
// retrying the same entry (deduplicated) after a failed attempt until ctx
// ends; it fails at once when leadership is lost or the node closes.
func (n *Node) leaderApply(ctx context.Context, typ cmdType, body any) (*result, error) {
	data, err := encodeCommand(typ, body)
	if err != nil {
		return nil, err
	}
	for {
		res, err := n.applyLocal(ctx, data)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil || errors.Is(err, errNotLeader) || errors.Is(err, errClosed) {
			return nil, err
		}
		select {
		case <-time.After(retryMin):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// reap fences expired sessions, one committed fence at a time, until ctx
// ends.
func (n *Node) reap(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		id, epoch, expired, wait := n.sess.nextExpired()
		if expired {
			n.fence(ctx, id, epoch)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		if wait == 0 {
			wait = time.Hour
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-n.sess.kick:
		case <-ctx.Done():
			return
		}
		timer.Stop()
	}
}

// fence commits the fencing of session (id, epoch).
func (n *Node) fence(ctx context.Context, id int32, epoch int64) {
	data, err := encodeCommand(cmdFence, brokerEpochBody{ID: id, Epoch: epoch})
	if err != nil {
		n.log.Error("encoding a fence command", "error", err)
		return
	}
	fctx, cancel := context.WithTimeout(ctx, 10*n.o.electionTimeout)
	defer cancel()
	res, err := n.applyLocal(fctx, data)
	if err != nil {
		n.sess.fenceFailed(id, epoch)
		n.log.Debug("fence command not committed", "broker", id, "epoch", epoch, "error", err)
		return
	}
	n.sess.fenceDone(id, epoch)
	if res.Broker != nil {
		n.log.Info("broker session expired, fenced", "broker", id, "epoch", epoch, "revision", res.Index)
	}
}

// onApply is the FSM's hook: session effects, then the proposer's waiter.
func (n *Node) onApply(id reqID, res *result, effects []sessionEffect) {
	if len(effects) > 0 {
		n.sess.apply(effects)
	}
	n.waitMu.Lock()
	ws := n.waiters[id]
	delete(n.waiters, id)
	n.waitMu.Unlock()
	for _, ch := range ws {
		ch <- res // buffered, one result per waiter
	}
}

func (n *Node) addWaiter(id reqID) chan *result {
	ch := make(chan *result, 1)
	n.waitMu.Lock()
	n.waiters[id] = append(n.waiters[id], ch)
	n.waitMu.Unlock()
	return ch
}

func (n *Node) removeWaiter(id reqID, ch chan *result) {
	n.waitMu.Lock()
	defer n.waitMu.Unlock()
	ws := slices.DeleteFunc(n.waiters[id], func(c chan *result) bool { return c == ch })
	if len(ws) == 0 {
		delete(n.waiters, id)
	} else {
		n.waiters[id] = ws
	}
}

// applyLocal proposes the encoded command data on this node, which must be
// the leader, and waits until it is applied here. It does not wait on raft's
// futures (raft drops those still queued for the FSM at shutdown): the FSM
// hands the result over by request id. If leadership is lost meanwhile the
// outcome is unknown and it returns errNotLeader; the caller retries the
// same data elsewhere (deduplicated). If nothing is applied for a while
// although this node still leads (an enqueue timeout, a refused proposal),
// it proposes the same data again.
func (n *Node) applyLocal(ctx context.Context, data []byte) (*result, error) {
	cmd, err := decodeCommand(data)
	if err != nil {
		return nil, err
	}
	ch := n.addWaiter(cmd.id)
	defer n.removeWaiter(cmd.id, ch)
	repropose := time.NewTimer(time.Hour)
	defer repropose.Stop()
	for {
		sig := n.leaderSignal()
		if n.raft.State() != raft.Leader {
			return nil, errNotLeader
		}
		var timeout time.Duration
		if dl, ok := ctx.Deadline(); ok {
			timeout = max(time.Until(dl), time.Millisecond)
		}
		n.raft.Apply(data, timeout)
		repropose.Reset(4 * n.o.electionTimeout)
	wait:
		for {
			select {
			case res := <-ch:
				return res, nil
			case <-sig:
				sig = n.leaderSignal()
				if n.raft.State() != raft.Leader {
					// The entry may still commit under the next leader; the
					// caller's retry is deduplicated.
					select {
					case res := <-ch:
						return res, nil
					default:
					}
					return nil, errNotLeader
				}
			case <-repropose.C:
				break wait
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-n.done:
				return nil, errClosed
			}
		}
	}
}

// callContext returns ctx with its deadline brought forward by a tenth of
// the time left (at most answerMargin), so that a call that cannot succeed
// answers ErrUnavailable before the caller's own deadline fires — across a
// plugin's gRPC boundary a server-side deadline otherwise races the answer.
func callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := min(time.Until(dl)/10, answerMargin)
	return context.WithDeadline(ctx, dl.Add(-margin))
}

// answerMargin caps how much earlier than its deadline a call gives up.
const answerMargin = 100 * time.Millisecond

// unavailable builds the error of a call that ran out of time.
func unavailable(op string, ctx context.Context, last error) error {
	if last == nil {
		return fmt.Errorf("raftmeta: %s: %w (%w)", op, metadata.ErrUnavailable, ctx.Err())
	}
	return fmt.Errorf("raftmeta: %s: %w (%w; last attempt: %v)", op, metadata.ErrUnavailable, ctx.Err(), last)
}

// retry runs attempt until it succeeds or fails for good (done true), ctx
// ends or the node closes. attempt is called again after a leader change or
// a short backoff.
func (n *Node) retry(ctx context.Context, op string, attempt func() (done bool, err error)) error {
	delay := retryMin
	var last error
	for {
		if err := n.checkOpen(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return unavailable(op, ctx, last)
		}
		sig := n.leaderSignal()
		done, err := attempt()
		if done {
			return err
		}
		last = err
		if errors.Is(err, errClosed) {
			return err
		}
		select {
		case <-sig:
		case <-time.After(delay):
			delay = min(2*delay, retryMax)
		case <-ctx.Done():
		case <-n.done:
		}
	}
}

// propose commits a command of type typ, from any node, and returns its
// result (whose error is the command's domain error).
func (n *Node) propose(ctx context.Context, op string, typ cmdType, body any) (*result, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	data, err := encodeCommand(typ, body)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(ctx)
	defer cancel()
	var res *result
	err = n.retry(ctx, op, func() (bool, error) {
		var err error
		if n.raft.State() == raft.Leader {
			res, err = n.applyLocal(ctx, data)
		} else if addr, _ := n.raft.LeaderWithID(); addr != "" {
			res, err = n.forwardApply(ctx, string(addr), data)
		} else {
			err = errNoLeader
		}
		return err == nil, err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// readIndexLocal returns, on a ready leader, an index every write completed
// before the call is at or below: the index of the last command applied on
// this leader, confirmed by a round of heartbeats (VerifyLeader) taken after
// reading it.
func (n *Node) readIndexLocal(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, errNotLeader
	}
	if !n.isReady() {
		return 0, errNotReady
	}
	idx := n.fsm.applied()
	if err := n.verifyLeader(ctx); err != nil {
		return 0, err
	}
	return idx, nil
}

// verifyLeader waits for raft's VerifyLeader. Its future always
// resolves: the leader answers it when it steps down or shuts down, other
// states at once.
func (n *Node) verifyLeader(ctx context.Context) error {
	resolved, err := n.awaitFuture(ctx, n.raft.VerifyLeader())
	if resolved && err != nil {
		return fmt.Errorf("%w: %v", errNotLeader, err)
	}
	return err
}

// awaitFuture waits for a raft future that always resolves: resolved and
// the future's error, or not resolved and ctx's error when ctx ends first,
// errClosed when the node closes first.
func (n *Node) awaitFuture(ctx context.Context, f raft.Future) (resolved bool, err error) {
	ch := make(chan error, 1)
	if !n.goFunc(func() { ch <- f.Error() }) {
		return false, errClosed
	}
	select {
	case err := <-ch:
		return true, err
	case <-ctx.Done():
		return false, ctx.Err()
	case <-n.done:
		return false, errClosed
	}
}

// readIndex returns a read index from the leader, from any node.
func (n *Node) readIndex(ctx context.Context, op string) (uint64, error) {
	var idx uint64
	err := n.retry(ctx, op, func() (bool, error) {
		var err error
		if n.raft.State() == raft.Leader {
			idx, err = n.readIndexLocal(ctx)
		} else if addr, _ := n.raft.LeaderWithID(); addr != "" {
			idx, err = n.forwardReadIndex(ctx, string(addr))
		} else {
			err = errNoLeader
		}
		return err == nil, err
	})
	return idx, err
}

// RegisterBroker opens a session for reg.ID; see metadata.Backend. A
// repeated registration of the live incarnation commits a no-op entry and
// renews the session.
func (n *Node) RegisterBroker(ctx context.Context, reg metadata.BrokerRegistration) (metadata.Broker, error) {
	if err := validateRegistration(reg); err != nil {
		return metadata.Broker{}, err
	}
	res, err := n.propose(ctx, "register broker", cmdRegister, registerBody{Reg: reg})
	if err != nil {
		return metadata.Broker{}, err
	}
	if err := res.err(); err != nil {
		return metadata.Broker{}, err
	}
	if res.Broker == nil {
		return metadata.Broker{}, fmt.Errorf("raftmeta: register broker %d: result without a broker", reg.ID)
	}
	return res.Broker.Clone(), nil
}

// Heartbeat renews the session (id, epoch) on the leader; see
// metadata.Backend. It commits nothing.
func (n *Node) Heartbeat(ctx context.Context, id int32, epoch int64) (metadata.HeartbeatResult, error) {
	if err := n.enter(ctx); err != nil {
		return metadata.HeartbeatResult{}, err
	}
	ctx, cancel := callContext(ctx)
	defer cancel()
	var resErr error
	// The session is the leader's, with the leader's timeout.
	timeout := n.o.sessionTimeout
	err := n.retry(ctx, "heartbeat", func() (bool, error) {
		timeout = n.o.sessionTimeout
		if n.raft.State() == raft.Leader {
			err := n.heartbeatLocal(ctx, id, epoch)
			if errors.Is(err, metadata.ErrFenced) || errors.Is(err, metadata.ErrStaleEpoch) {
				resErr = err
				return true, nil
			}
			return err == nil, err
		}
		addr, _ := n.raft.LeaderWithID()
		if addr == "" {
			return false, errNoLeader
		}
		resp, err := n.forwardHeartbeat(ctx, string(addr), id, epoch)
		if err != nil {
			return false, err
		}
		resErr = errorOf(resp.Code, resp.Msg)
		if resp.SessionTimeout > 0 {
			timeout = resp.SessionTimeout
		}
		return true, nil
	})
	if err != nil {
		return metadata.HeartbeatResult{}, err
	}
	if resErr != nil {
		return metadata.HeartbeatResult{}, resErr
	}
	return metadata.HeartbeatResult{Epoch: epoch, SessionTimeout: timeout}, nil
}

// heartbeatLocal renews a session on this node, which must be the ready
// leader. A refusal (ErrFenced, ErrStaleEpoch) is confirmed with
// VerifyLeader first: a deposed leader that does not know it yet must not
// send a live broker back to registration.
func (n *Node) heartbeatLocal(ctx context.Context, id int32, epoch int64) error {
	if n.raft.State() != raft.Leader {
		return errNotLeader
	}
	err := n.sess.heartbeat(n.fsm, id, epoch)
	if errors.Is(err, metadata.ErrFenced) || errors.Is(err, metadata.ErrStaleEpoch) {
		if verr := n.verifyLeader(ctx); verr != nil {
			return verr
		}
	}
	return err
}

// UnregisterBroker ends the session and removes the broker; see
// metadata.Backend.
func (n *Node) UnregisterBroker(ctx context.Context, id int32, epoch int64) error {
	res, err := n.propose(ctx, "unregister broker", cmdUnregister, brokerEpochBody{ID: id, Epoch: epoch})
	if err != nil {
		return err
	}
	return res.err()
}

// CreateTopic creates the topic with all its partitions in one change; see
// metadata.Backend. With ErrTopicExists the existing topic is returned as
// well.
func (n *Node) CreateTopic(ctx context.Context, spec metadata.TopicSpec) (metadata.Topic, error) {
	if err := metadata.ValidateTopicSpec(spec); err != nil {
		return metadata.Topic{}, err
	}
	res, err := n.propose(ctx, "create topic", cmdCreateTopic, createTopicBody{Spec: spec})
	if err != nil {
		return metadata.Topic{}, err
	}
	var t metadata.Topic
	if res.Topic != nil {
		t = res.Topic.Clone()
	}
	return t, res.err()
}

// DeleteTopic removes the topic and its partitions in one change; see
// metadata.Backend.
func (n *Node) DeleteTopic(ctx context.Context, name string) error {
	res, err := n.propose(ctx, "delete topic", cmdDeleteTopic, deleteTopicBody{Name: name})
	if err != nil {
		return err
	}
	return res.err()
}

// AddPartitions appends len(parts) partitions to the topic if it has
// exactly expectedCount partitions, in one committed change watched as
// EventTopicUpdated; see metadata.TopicUpdater. It returns the whole
// updated topic. Errors are checked in this order: ErrInvalid (no or bad
// partition specs), ErrUnknownTopic, ErrStaleEpoch (another partition
// count). Safe for concurrent use; a retry after an indeterminate outcome
// is deduplicated, and of two concurrent calls with the same expected
// count one fails with ErrStaleEpoch.
func (n *Node) AddPartitions(ctx context.Context, topic string, expectedCount int32, parts []metadata.PartitionSpec) (metadata.Topic, error) {
	if err := metadata.ValidateNewPartitions(topic, parts); err != nil {
		return metadata.Topic{}, err
	}
	res, err := n.propose(ctx, "add partitions", cmdAddPartitions,
		addPartitionsBody{Topic: topic, ExpectedCount: expectedCount, Parts: parts})
	if err != nil {
		return metadata.Topic{}, err
	}
	if err := res.err(); err != nil {
		return metadata.Topic{}, err
	}
	if res.Topic == nil {
		return metadata.Topic{}, fmt.Errorf("raftmeta: add partitions to %q: result without a topic", topic)
	}
	return res.Topic.Clone(), nil
}

// SetTopicConfigs replaces the topic's configs (nil or empty clears them)
// if they equal expected, in one committed change watched as
// EventTopicUpdated; see metadata.TopicUpdater. The state machine compares
// when it applies the entry, so of concurrent calls with the same
// expectation one wins and the others get ErrStaleEpoch. It returns the
// whole updated topic; ErrUnknownTopic for an unknown topic. A retry after
// an indeterminate outcome is deduplicated.
func (n *Node) SetTopicConfigs(ctx context.Context, topic string, expected, configs map[string]string) (metadata.Topic, error) {
	res, err := n.propose(ctx, "set topic configs", cmdSetTopicConfigs,
		setTopicConfigsBody{Topic: topic, Configs: configs, CAS: true, Expected: expected})
	if err != nil {
		return metadata.Topic{}, err
	}
	if err := res.err(); err != nil {
		return metadata.Topic{}, err
	}
	if res.Topic == nil {
		return metadata.Topic{}, fmt.Errorf("raftmeta: set configs of %q: result without a topic", topic)
	}
	return res.Topic.Clone(), nil
}

// AlterPartition is a compare-and-set on the partition epoch; see
// metadata.Backend. Errors are checked in this order: ErrUnknownTopic,
// ErrInvalid, ErrStaleEpoch.
func (n *Node) AlterPartition(ctx context.Context, change metadata.PartitionChange) (metadata.Partition, error) {
	res, err := n.propose(ctx, "alter partition", cmdAlterPartition, alterPartitionBody{Change: change})
	if err != nil {
		return metadata.Partition{}, err
	}
	if err := res.err(); err != nil {
		return metadata.Partition{}, err
	}
	if res.Partition == nil {
		return metadata.Partition{}, fmt.Errorf("raftmeta: alter partition %s/%d: result without a partition", change.Topic, change.Partition)
	}
	return res.Partition.Clone(), nil
}

// AllocateProducerIDs reserves n consecutive producer ids; see
// metadata.Backend.
func (n *Node) AllocateProducerIDs(ctx context.Context, count int) (int64, error) {
	if count <= 0 {
		return 0, fmt.Errorf("raftmeta: allocate %d producer ids: %w", count, metadata.ErrInvalid)
	}
	res, err := n.propose(ctx, "allocate producer ids", cmdAllocateProducerIDs, allocateBody{N: count})
	if err != nil {
		return 0, err
	}
	if err := res.err(); err != nil {
		return 0, err
	}
	return res.First, nil
}

// Compact discards the watch history up to and including rev on every
// node (it is committed like a change, without an event) and returns once
// this node applied it; see metadata.Compactor. A revision after the current one is ErrInvalid;
// compacting an already compacted revision is a no-op.
func (n *Node) Compact(ctx context.Context, rev metadata.Revision) error {
	if rev < 0 {
		return fmt.Errorf("raftmeta: compact to revision %d: %w", rev, metadata.ErrInvalid)
	}
	res, err := n.propose(ctx, "compact", cmdCompact, compactBody{Revision: rev})
	if err != nil {
		return err
	}
	if err := res.err(); err != nil {
		return err
	}
	// A Watch on this node right after Compact must see the compaction.
	if err := n.fsm.waitApplied(ctx, res.Index, n.done); err != nil {
		if errors.Is(err, errClosed) {
			return err
		}
		return unavailable("compact", ctx, err)
	}
	return nil
}

// Snapshot returns the whole state, linearizably: this node waits until it
// has applied the leader's read index, then copies its state. Its Revision
// is the log index of the last applied command (it need not be the revision
// of a change). Its ClusterID is set: a leader names a read index only
// once its term committed one (ensureClusterID), and the index covers it.
func (n *Node) Snapshot(ctx context.Context) (metadata.State, error) {
	if err := n.enter(ctx); err != nil {
		return metadata.State{}, err
	}
	ctx, cancel := callContext(ctx)
	defer cancel()
	idx, err := n.readIndex(ctx, "snapshot")
	if err != nil {
		return metadata.State{}, err
	}
	if err := n.fsm.waitApplied(ctx, idx, n.done); err != nil {
		if errors.Is(err, errClosed) {
			return metadata.State{}, err
		}
		return metadata.State{}, unavailable("snapshot", ctx, fmt.Errorf("applying up to the read index %d: %w", idx, err))
	}
	return n.fsm.stateClone(), nil
}

// Info describes the backend and this node's view of the Raft
// configuration (the latest one, possibly not yet committed). It needs no
// quorum.
func (n *Node) Info(ctx context.Context) (metadata.Info, error) {
	if err := n.enter(ctx); err != nil {
		return metadata.Info{}, err
	}
	_, leader := n.raft.LeaderWithID()
	info := metadata.Info{
		Name:         Name,
		Version:      Version,
		Capabilities: slices.Clone(Capabilities),
		NodeID:       n.o.nodeID,
		Leader:       string(leader),
	}
	for _, s := range n.raft.GetConfiguration().Configuration().Servers {
		info.Members = append(info.Members, metadata.Member{
			ID:      string(s.ID),
			Address: string(s.Address),
			Voter:   s.Suffrage == raft.Voter,
			Leader:  s.ID == leader && leader != "",
		})
	}
	return info, nil
}

// gatedTransport hands raft's heartbeat handler to the gate and the gate's
// handler to the transport. Embedding keeps every optional interface of
// the NetworkTransport (WithClose, WithPeers, WithPreVote) visible to raft.
type gatedTransport struct {
	*raft.NetworkTransport
	gate *heartbeatGate
}

func (t gatedTransport) SetHeartbeatHandler(fn func(raft.RPC)) {
	t.gate.mu.Lock()
	t.gate.fn = fn
	t.gate.mu.Unlock()
	if fn == nil {
		t.NetworkTransport.SetHeartbeatHandler(nil)
		return
	}
	t.NetworkTransport.SetHeartbeatHandler(t.gate.handle)
}

// heartbeatGate runs raft's heartbeat handler until close, which waits for
// the calls in flight; later heartbeats are answered with ErrRaftShutdown.
type heartbeatGate struct {
	mu     sync.RWMutex
	fn     func(raft.RPC)
	closed bool
}

func (g *heartbeatGate) handle(rpc raft.RPC) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed || g.fn == nil {
		rpc.Respond(nil, raft.ErrRaftShutdown)
		return
	}
	g.fn(rpc)
}

func (g *heartbeatGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
