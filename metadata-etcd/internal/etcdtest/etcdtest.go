// Package etcdtest runs real etcd clusters for tests: etcd's own server
// (go.etcd.io/etcd/server/v3/embed), 1 or more members on loopback ports in
// the test's temp directories; or, with Options.Binary, members that are
// processes of an etcd server binary (another etcd release, see
// BuildServer).
//
// Each member's clients go through a small TCP proxy in front of its client
// port, so that a test can drop every client connection of a member at once
// (Kill, as a crashed process would) instead of waiting for etcd's graceful
// shutdown, which lingers while watch streams are open. Endpoints returns
// the proxies' addresses.
//
// Ports: etcd's peer URLs must be known before the members start, so the
// helper reserves loopback ports (listen on 127.0.0.1:0, close, reuse);
// a member keeps its ports across Restart.
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Timing of the test clusters. Heartbeat 100ms and election 600ms let etcd
// grant leases of 1s (its minimum lease TTL is 1.5 election timeouts,
// rounded up to a second), which the 1s session timeout of the conformance
// suite needs.
const (
	TickMs     = 100
	ElectionMs = 600
	// ReadyTimeout bounds a member's start.
	ReadyTimeout = 30 * time.Second
)

// TB is the part of *testing.T (and of the conformance suite's T) the
// helper uses.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
	TempDir() string
	Cleanup(func())
}

// Options tune a cluster.
type Options struct {
	// Members is the number of etcd members (default 1).
	Members int
	// Names, if set, names the members (default "etcd-<i>").
	Names []string
	// Configure, when set, adjusts each member's embed.Config before start
	// (TLS, limits...). Embedded members only.
	Configure func(i int, cfg *embed.Config)
	// Binary, when set, is the path of an etcd server binary (release 3.5
	// or later: its flags): each member is then a process of it, with the
	// same names, ports, directories and timing as embedded members. Kill
	// is SIGKILL, Stop is SIGTERM (etcd's graceful stop). Isolate and
	// Rejoin need embedded members.
	Binary string
}

// Cluster is a running etcd cluster. Its methods are safe for concurrent
// use by one test.
type Cluster struct {
	t       TB
	binary  string
	members []*Member
	proxies []*proxy // closed last

	exitsMu sync.Mutex
	exits   []string // unexpected exits of process members, not yet reported
}

// Member is one etcd member and the proxy in front of its client port.
type Member struct {
	Name string
	cfg  *embed.Config

	proxyAddr  string
	clientAddr string

	proxy *proxy // lives as long as the cluster

	// args are the flags of a process member (Options.Binary), out its
	// output across its runs.
	args []string
	out  *syncBuffer

	mu   sync.Mutex
	etcd *embed.Etcd
	proc *process
	// closing is closed when the background shutdown of a killed member
	// is over (etcd's Close lingers after a hard stop of a leader).
	closing chan struct{}
}

// Start starts a cluster and waits until every member is ready (the cluster
// has a leader). Cleanup stops it. It fails the test if it cannot start.
func Start(t TB, opts Options) *Cluster {
	t.Helper()
	n := max(opts.Members, 1)
	if opts.Binary != "" && opts.Configure != nil {
		t.Fatalf("etcdtest: Options.Configure needs embedded members, not Options.Binary")
	}
	c := &Cluster{t: t, binary: opts.Binary}
	t.Cleanup(c.close)
	token := fmt.Sprintf("chronik-etcdtest-%d", time.Now().UnixNano())
	var initial []string
	for i := range n {
		name := fmt.Sprintf("etcd-%d", i)
		if i < len(opts.Names) {
			name = opts.Names[i]
		}
		peer, client := reservePort(t), reservePort(t)
		p, err := startProxy(client)
		if err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		c.proxies = append(c.proxies, p)
		cfg := embed.NewConfig()
		cfg.Name = name
		cfg.Dir = t.TempDir()
		purl := url.URL{Scheme: "http", Host: peer}
		curl := url.URL{Scheme: "http", Host: client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{purl}, []url.URL{purl}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{curl}, []url.URL{curl}
		cfg.InitialClusterToken = token
		cfg.ClusterState = embed.ClusterStateFlagNew
		cfg.TickMs, cfg.ElectionMs = TickMs, ElectionMs
		cfg.UnsafeNoFsync = true
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cfg.ListenMetricsUrls = nil
		initial = append(initial, name+"="+purl.String())
		if opts.Configure != nil {
			opts.Configure(i, cfg)
		}
		c.members = append(c.members, &Member{Name: name, cfg: cfg, proxy: p, proxyAddr: p.addr(), clientAddr: client, out: &syncBuffer{}})
	}
	for _, m := range c.members {
		m.cfg.InitialCluster = strings.Join(initial, ",")
		if c.binary != "" {
			m.args = processArgs(m.cfg)
		}
	}
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- c.start(i, true) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
	}
	return c
}

// reservePort finds a free loopback port for etcd to bind, below Linux's
// ephemeral range (32768+), so that no outgoing connection takes it between
// this check and etcd's bind, nor while a member is down.
func reservePort(t TB) string {
	t.Helper()
	for range 1000 {
		port := 15000 + rand.IntN(17000)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr
	}
	t.Fatalf("etcdtest: no free port found")
	return ""
}

// start starts member i (first start or restart) and its proxy, and, if
// wait, waits until it is ready (which needs a quorum).
func (c *Cluster) start(i int, wait bool) error {
	m := c.members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runningLocked() {
		return fmt.Errorf("member %s already running", m.Name)
	}
	if m.closing != nil {
		<-m.closing
		m.closing = nil
	}
	if c.binary != "" {
		p, err := startProcess(c.binary, m, wait)
		if err != nil {
			return err
		}
		m.proc = p
		m.proxy.up(true)
		return nil
	}
	var (
		e   *embed.Etcd
		err error
	)
	// A reserved port may still be in TIME_WAIT or taken for a moment.
	for attempt := 0; ; attempt++ {
		e, err = embed.StartEtcd(m.cfg)
		if err == nil || attempt == 20 || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("start member %s: %w", m.Name, err)
	}
	if wait {
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			e.Close()
			return fmt.Errorf("member %s failed: %w", m.Name, err)
		case <-time.After(ReadyTimeout):
			e.Close()
			return fmt.Errorf("member %s not ready within %v", m.Name, ReadyTimeout)
		}
	}
	m.etcd = e
	m.proxy.up(true)
	return nil
}

// N is the number of members.
func (c *Cluster) N() int { return len(c.members) }

// Member returns member i.
func (c *Cluster) Member(i int) *Member { return c.members[i] }

// Endpoint is member i's client endpoint (its proxy), host:port.
func (c *Cluster) Endpoint(i int) string { return c.members[i].proxyAddr }

// Endpoints are every member's client endpoint.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for i := range c.members {
		eps = append(eps, c.Endpoint(i))
	}
	return eps
}

// DirectEndpoints are the members' own client ports, bypassing the
// proxies (for measurements).
func (c *Cluster) DirectEndpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.clientAddr)
	}
	return eps
}

// Kill ends member i abruptly: its client connections drop at once and its
// raft node stops without handing over leadership, as a crash would.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	c.halt(i, true)
}

// Disconnect drops every client connection of member i and refuses new
// ones, while the member itself keeps running in its cluster: a network
// cut between clients and that member. Reconnect ends it.
func (c *Cluster) Disconnect(i int) { c.members[i].proxy.up(false) }

// Reconnect lets clients reach member i again (if it runs).
func (c *Cluster) Reconnect(i int) {
	m := c.members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runningLocked() {
		m.proxy.up(true)
	}
}

// Stop shuts member i down gracefully (a leader hands over leadership).
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	c.halt(i, false)
}

func (c *Cluster) halt(i int, hard bool) {
	m := c.members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.runningLocked() {
		return
	}
	m.proxy.up(false)
	if p := m.proc; p != nil {
		m.proc = nil
		if err := p.exitErr(); err != nil {
			c.exitedUnexpectedly(m, err)
		}
		p.halt(hard)
		return
	}
	e := m.etcd
	m.etcd = nil
	if !hard {
		e.Close()
		return
	}
	e.Server.HardStop()
	done := make(chan struct{})
	m.closing = done
	go func() {
		defer close(done)
		e.Close()
	}()
}

// Restart starts member i again with its data and ports, after Kill or
// Stop. It waits until the member is ready, which needs a quorum.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if err := c.start(i, true); err != nil {
		c.t.Fatalf("etcdtest: restart: %v", err)
	}
}

// Launch starts member i again with its data and ports without waiting
// for it to be ready: for members whose quorum needs other members
// restarted too. Its client port accepts connections when Launch returns.
func (c *Cluster) Launch(i int) error {
	return c.start(i, false)
}

// Running reports whether member i runs.
func (c *Cluster) Running(i int) bool {
	m := c.members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runningLocked()
}

func (m *Member) runningLocked() bool { return m.etcd != nil || m.proc != nil }

// Leader returns the index of the member that is the raft leader, or -1.
func (c *Cluster) Leader() int {
	if c.binary != "" {
		return c.processLeader()
	}
	for i, m := range c.members {
		m.mu.Lock()
		e := m.etcd
		m.mu.Unlock()
		if e != nil && e.Server.Leader() == e.Server.MemberID() {
			return i
		}
	}
	return -1
}

// Client returns a client of every member (through the proxies), closed by
// the test's cleanup.
func (c *Cluster) Client() *clientv3.Client {
	c.t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		c.t.Fatalf("etcdtest: client: %v", err)
	}
	c.t.Cleanup(func() { cli.Close() })
	return cli
}

// Heal starts every member that is down (without waiting for each) and
// waits until the cluster serves a linearizable read through every
// member, or fails the test after ReadyTimeout.
//
// A process member (Options.Binary) that exited by itself since the last
// Heal fails the test here, and is started again by the next Heal.
func (c *Cluster) Heal() {
	c.t.Helper()
	if exits := c.unexpectedExits(); len(exits) > 0 {
		c.t.Fatalf("etcdtest: %s", strings.Join(exits, "; "))
	}
	for i := range c.members {
		if !c.Running(i) {
			if err := c.Launch(i); err != nil {
				c.t.Fatalf("etcdtest: heal: %v", err)
			}
		}
	}
	deadline := time.Now().Add(ReadyTimeout)
	for i := range c.members {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.Endpoint(i)}, DialTimeout: time.Second, Logger: zap.NewNop()})
		if err != nil {
			c.t.Fatalf("etcdtest: heal: client: %v", err)
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err = cli.Get(ctx, "etcdtest-health")
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				cli.Close()
				c.t.Fatalf("etcdtest: heal: member %d not serving within %v: %v", i, ReadyTimeout, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cli.Close()
	}
}

// MoveLeader makes member to the leader.
func (c *Cluster) MoveLeader(ctx context.Context, to int) error {
	l := c.Leader()
	if l < 0 {
		return errors.New("etcdtest: no leader")
	}
	if l == to {
		return nil
	}
	if c.binary != "" {
		return c.moveProcessLeader(ctx, l, to)
	}
	lm, tm := c.members[l], c.members[to]
	lm.mu.Lock()
	le := lm.etcd
	lm.mu.Unlock()
	tm.mu.Lock()
	te := tm.etcd
	tm.mu.Unlock()
	if le == nil || te == nil {
		return errors.New("etcdtest: member not running")
	}
	return le.Server.MoveLeader(ctx, uint64(le.Server.MemberID()), uint64(te.Server.MemberID()))
}

func (c *Cluster) close() {
	var wg sync.WaitGroup
	for i := range c.members {
		wg.Go(func() { c.halt(i, true) })
	}
	wg.Wait()
	for _, m := range c.members {
		m.mu.Lock()
		if m.closing != nil {
			<-m.closing
		}
		m.mu.Unlock()
	}
	for _, p := range c.proxies {
		p.close()
	}
	if c.binary == "" {
		return
	}
	exits := c.unexpectedExits()
	if c.t.Failed() || len(exits) > 0 {
		for _, m := range c.members {
			c.t.Logf("etcdtest: output of member %s (%s):\n%s", m.Name, c.binary, m.out.String())
		}
	}
	if len(exits) > 0 {
		c.t.Fatalf("etcdtest: %s", strings.Join(exits, "; "))
	}
}

// proxy forwards TCP connections from its own loopback port to a member's
// client port while the member is up; while it is down, connections are
// accepted and dropped at once. Taking it down resets every connection.
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	isUp   bool
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func startProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// up lets connections through (true) or resets them all and drops new
// ones (false).
func (p *proxy) up(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isUp = up
	if !up {
		p.resetLocked()
	}
}

func (p *proxy) resetLocked() {
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) //nolint:errcheck // best effort: reset instead of FIN
		}
		c.Close()
		delete(p.conns, c)
	}
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !p.isUp {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.isUp
		p.mu.Unlock()
		if !up {
			in.Close()
			continue
		}
		out, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			in.Close()
			continue
		}
		if !p.track(in, out) {
			in.Close()
			out.Close()
			continue
		}
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src) //nolint:errcheck // ends when either side closes
	dst.Close()
	src.Close()
}

// close stops accepting, resets every connection and waits.
func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	p.resetLocked()
	p.mu.Unlock()
	p.wg.Wait()
}

// Isolate cuts raft traffic between member i and every other member, in
// both directions, while its clients still reach it: a member partitioned
// from its quorum. Rejoin ends it.
func (c *Cluster) Isolate(i int) { c.cut(i, true) }

// Rejoin mends the raft traffic that Isolate cut.
func (c *Cluster) Rejoin(i int) { c.cut(i, false) }

func (c *Cluster) cut(i int, cut bool) {
	if c.binary != "" {
		c.t.Fatalf("etcdtest: Isolate and Rejoin need embedded members, not Options.Binary")
	}
	running := func(m *Member) *embed.Etcd {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.etcd
	}
	me := running(c.members[i])
	if me == nil {
		return
	}
	for j, m := range c.members {
		other := running(m)
		if j == i || other == nil {
			continue
		}
		if cut {
			me.Server.CutPeer(other.Server.MemberID())
			other.Server.CutPeer(me.Server.MemberID())
		} else {
			me.Server.MendPeer(other.Server.MemberID())
			other.Server.MendPeer(me.Server.MemberID())
		}
	}
}
