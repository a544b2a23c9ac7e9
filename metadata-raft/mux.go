package raftmeta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Port multiplexing
//
// A node serves two protocols on its one Raft address, told apart by the
// first byte a client sends:
//
//	first byte      protocol
//	0x00 .. 0x7f    hashicorp/raft NetworkTransport (its RPC type bytes are
//	                0 AppendEntries, 1 RequestVote, 2 InstallSnapshot,
//	                3 TimeoutNow, 4 RequestPreVote); the byte is replayed
//	forwardMagic    the node-to-node forwarding service (gRPC over HTTP/2,
//	                plaintext); the byte is consumed
//
// Anything else closes the connection.

// forwardMagic starts every connection of the forwarding service.
const forwardMagic byte = 0xC7

// peekTimeout bounds how long an accepted connection may take to send its
// first byte.
const peekTimeout = 10 * time.Second

// mux accepts connections on one listener and routes them to the Raft
// stream layer or the forwarding server. It owns its accept goroutine and
// one short-lived goroutine per connection being classified; Close stops
// and waits for them and closes every connection it accepted that is still
// being classified or queued. Connections handed out belong to their
// consumer.
type mux struct {
	ln        net.Listener
	advertise net.Addr
	log       *slog.Logger

	raftLn *subListener
	fwdLn  *subListener

	wg       sync.WaitGroup
	closing  chan struct{}
	mu       sync.Mutex
	closed   bool
	pending  map[net.Conn]struct{}     // being classified
	accepted map[*trackedConn]struct{} // handed to a sub-listener
}

func newMux(ln net.Listener, advertise string, log *slog.Logger) (*mux, error) {
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		// A host name that does not resolve yet is fine for advertising.
		adv = nil
	}
	m := &mux{
		ln:       ln,
		log:      log,
		closing:  make(chan struct{}),
		pending:  map[net.Conn]struct{}{},
		accepted: map[*trackedConn]struct{}{},
	}
	if adv != nil {
		m.advertise = adv
	} else {
		m.advertise = stringAddr(advertise)
	}
	m.raftLn = newSubListener(m, m.advertise)
	m.fwdLn = newSubListener(m, m.advertise)
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

// stringAddr is a net.Addr of an address that does not resolve.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

func (m *mux) acceptLoop() {
	defer m.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closing:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.log.Warn("raft listener accept failed", "error", err)
			select {
			case <-time.After(backoff):
				backoff = min(2*backoff, time.Second)
				continue
			case <-m.closing:
				return
			}
		}
		backoff = 5 * time.Millisecond
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			c.Close()
			return
		}
		m.pending[c] = struct{}{}
		m.wg.Add(1)
		m.mu.Unlock()
		go m.classify(c)
	}
}

// classify reads the first byte of c and hands c to its protocol.
func (m *mux) classify(c net.Conn) {
	defer m.wg.Done()
	var b [1]byte
	_ = c.SetReadDeadline(time.Now().Add(peekTimeout))
	_, err := c.Read(b[:])
	_ = c.SetReadDeadline(time.Time{})
	tc := &trackedConn{Conn: c, m: m}
	m.mu.Lock()
	delete(m.pending, c)
	closed := m.closed
	if err == nil && !closed {
		m.accepted[tc] = struct{}{}
	}
	m.mu.Unlock()
	if err != nil || closed {
		c.Close()
		return
	}
	switch {
	case b[0] == forwardMagic:
		m.fwdLn.deliver(tc)
	case b[0] < 0x80:
		m.raftLn.deliver(&peekedConn{trackedConn: tc, first: b[0], has: true})
	default:
		m.log.Debug("closing connection with an unknown protocol byte", "byte", b[0], "remote", c.RemoteAddr().String())
		tc.Close()
	}
}

// Close stops accepting, closes every connection not yet handed out, and
// waits for the mux's goroutines. With all, it also closes every
// connection handed out: before raft stops, as a crash drops them; after,
// so that no reader of an idle inbound connection outlives the node (reads
// on them then end with io.EOF, quietly). The sub-listeners stay
// open (Accept blocks) until their consumers close them, so that raft's
// transport does not log a failing Accept while it is still running;
// closeListeners closes them anyway.
func (m *mux) Close(all bool) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.closing)
	for c := range m.pending {
		c.Close()
	}
	var handed []*trackedConn
	if all {
		for c := range m.accepted {
			handed = append(handed, c)
		}
	}
	m.mu.Unlock()
	err := m.ln.Close()
	for _, c := range handed {
		c.byMux.Store(true)
		c.Close()
	}
	m.wg.Wait()
	return err
}

// closeListeners closes both sub-listeners.
func (m *mux) closeListeners() {
	m.raftLn.Close()
	m.fwdLn.Close()
}

// trackedConn removes itself from the mux's accepted set on Close.
type trackedConn struct {
	net.Conn
	m    *mux
	once sync.Once
	// byMux: the mux closed the connection; reads end with io.EOF.
	byMux atomic.Bool
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && c.byMux.Load() {
		err = io.EOF
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.m.mu.Lock()
		delete(c.m.accepted, c)
		c.m.mu.Unlock()
	})
	return c.Conn.Close()
}

// peekedConn replays the first byte read by the mux.
type peekedConn struct {
	*trackedConn
	mu    sync.Mutex
	first byte
	has   bool
}

func (c *peekedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.has && len(p) > 0 {
		p[0] = c.first
		c.has = false
		c.mu.Unlock()
		return 1, nil
	}
	c.mu.Unlock()
	return c.trackedConn.Read(p)
}

// subListener is a net.Listener fed by the mux.
type subListener struct {
	m     *mux
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newSubListener(m *mux, addr net.Addr) *subListener {
	return &subListener{m: m, addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// deliver hands c to Accept, or closes it if the listener or the mux is
// closed.
func (l *subListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	case <-l.m.closing:
		c.Close()
	}
}

// errListenerClosed is what Accept returns after Close; it wraps
// net.ErrClosed so that servers stop quietly.
var errListenerClosed = fmt.Errorf("raftmeta: listener closed: %w", net.ErrClosed)

// Accept waits for the next connection routed to this listener.
func (l *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errListenerClosed
	}
}

// Close makes Accept fail; it does not close the mux.
func (l *subListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is the advertised address.
func (l *subListener) Addr() net.Addr { return l.addr }

// streamLayer is raft's StreamLayer on the mux: Accept yields the Raft
// connections, Dial opens plain TCP connections (whose first byte, written
// by raft, is an RPC type).
type streamLayer struct {
	*subListener
}

var _ raft.StreamLayer = streamLayer{}

// Dial connects to another node's Raft address.
func (s streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", string(address))
}

// dialForward connects to another node's forwarding service.
func dialForward(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(dl)
	}
	if _, err := c.Write([]byte{forwardMagic}); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Time{})
	return c, nil
}
