package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/chronik-go/chronik/core/protocol"
	"github.com/chronik-go/chronik/core/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait in these tests.
const testTimeout = 10 * time.Second

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// env is a running server with test-only APIs: ApiVersions (the real
// one), a minimal Metadata naming the server as broker 1 (so that kgo
// clients are content), and an "echo" API on DescribeConfigs (key 32,
// versions 0-4, v4 flexible) whose behaviour the first resource name
// selects; see echoHandler.
type env struct {
	srv     *Server
	addr    string
	metrics *prometheus.Registry
	logs    *logRecorder

	gate    chan struct{} // closed to release "slow" requests
	active  atomic.Int32  // echo handlers running now (ordered part)
	overlap atomic.Bool   // two echo handlers ran at once

	mu      sync.Mutex
	handled map[string]int // echo handler calls by name
	order   []string       // echo handler calls in call order
}

func startEnv(t testing.TB, mod func(*Config), extra ...protocol.API) *env {
	t.Helper()
	e := &env{
		metrics: prometheus.NewRegistry(),
		logs:    &logRecorder{},
		gate:    make(chan struct{}),
		handled: make(map[string]int),
	}
	reg := protocol.NewRegistry()
	av, ok := protocol.Lookup(18)
	if !ok {
		t.Fatal("ApiVersions not registered")
	}
	reg.Register(av)
	reg.Register(protocol.API{Key: 3, MinVersion: 0, MaxVersion: 12, Handle: e.metadataHandler})
	reg.Register(protocol.API{Key: 32, MinVersion: 0, MaxVersion: 4, Handle: e.echoHandler})
	for _, api := range extra {
		reg.Register(api)
	}

	cfg := DefaultConfig()
	cfg.ListenAddrs = []string{"127.0.0.1:0"}
	cfg.Metrics = e.metrics
	if mod != nil {
		mod(&cfg)
	}
	logger := slog.New(e.logs)
	if testing.Verbose() && os.Getenv("CHRONIK_TEST_LOGS") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := New(cfg, &protocol.Broker{NodeID: 1, Registry: reg}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.addr = srv.Addr().String()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func (e *env) metadataHandler(_ context.Context, b *protocol.Broker, r *protocol.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	host, portStr, err := net.SplitHostPort(e.srv.AdvertisedAddr())
	if err != nil {
		return nil, err
	}
	port, _ := strconv.Atoi(portStr)
	broker := kmsg.NewMetadataResponseBroker()
	broker.NodeID, broker.Host, broker.Port = b.NodeID, host, int32(port)
	resp.Brokers = append(resp.Brokers, broker)
	resp.ClusterID = kmsg.StringPtr("test-cluster")
	resp.ControllerID = b.NodeID
	return resp, nil
}

// echoHandler serves DescribeConfigs as a test API. The first resource's
// name picks the behaviour ("kind:tag" — the response echoes the name):
//
//	fast:*      answer now
//	slow:*      defer until e.gate is closed
//	hang:*      defer until the connection's context is cancelled
//	noresp:*    no response (like Produce acks=0)
//	error:*     Go error (the connection closes)
//	panic:*     panic
//	deferpanic: defer, then panic in the wait
//	wrongkey:*  answer with a Metadata response
func (e *env) echoHandler(ctx context.Context, _ *protocol.Broker, r *protocol.Request) (kmsg.Response, error) {
	if e.active.Add(1) > 1 {
		e.overlap.Store(true)
	}
	defer e.active.Add(-1)

	req := r.Body.(*kmsg.DescribeConfigsRequest)
	name := ""
	if len(req.Resources) > 0 {
		name = req.Resources[0].ResourceName
	}
	e.mu.Lock()
	e.handled[name]++
	e.order = append(e.order, name)
	e.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	res := kmsg.NewDescribeConfigsResponseResource()
	res.ResourceType = kmsg.ConfigResourceTypeTopic
	res.ResourceName = name
	resp.Resources = append(resp.Resources, res)

	kind, _, _ := strings.Cut(name, ":")
	switch kind {
	case "slow":
		return r.Defer(func(ctx context.Context) (kmsg.Response, error) {
			select {
			case <-e.gate:
				return resp, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
	case "hang":
		return r.Defer(func(ctx context.Context) (kmsg.Response, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
	case "noresp":
		return nil, nil
	case "error":
		return nil, errors.New("echo: asked to fail")
	case "panic":
		panic("echo: asked to panic")
	case "deferpanic":
		return r.Defer(func(context.Context) (kmsg.Response, error) { panic("echo: asked to panic later") })
	case "wrongkey":
		return kmsg.NewPtrMetadataResponse(), nil
	}
	return resp, nil
}

// callOrder returns the names of the echo handler calls so far, in order.
func (e *env) callOrder() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.order)
}

// echoRequest builds an echo request named name at version v.
func echoRequest(name string, v int16) *kmsg.DescribeConfigsRequest {
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = v
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeTopic
	res.ResourceName = name
	req.Resources = append(req.Resources, res)
	return req
}

// waitHandled waits until the echo handler has been called for name.
func (e *env) waitHandled(t *testing.T, name string) {
	t.Helper()
	eventually(t, "echo handler call for "+name, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.handled[name] > 0
	})
}

func (e *env) closedFor(reason string) float64 {
	return testutil.ToFloat64(e.srv.metrics.closed.WithLabelValues(reason))
}

// rawConn is a hand-driven client connection.
type rawConn struct {
	t    testing.TB
	nc   net.Conn
	corr int32
	f    *kmsg.RequestFormatter
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &rawConn{t: t, nc: nc, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-test"))}
}

// frame encodes req with the next correlation id.
func (c *rawConn) frame(req kmsg.Request) ([]byte, int32) {
	c.corr++
	return c.f.AppendRequest(nil, req, c.corr), c.corr
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes req and returns its correlation id.
func (c *rawConn) send(req kmsg.Request) int32 {
	c.t.Helper()
	b, corr := c.frame(req)
	c.write(b)
	return corr
}

// readFrame reads one response frame (without size).
func (c *rawConn) readFrame() ([]byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(c.nc, frame)
	return frame, err
}

// recv reads a response into resp (version set) and returns its
// correlation id.
func (c *rawConn) recv(resp kmsg.Response) int32 {
	c.t.Helper()
	frame, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	corr, err := wire.ParseResponse(frame, resp)
	if err != nil {
		c.t.Fatalf("parsing response: %v", err)
	}
	return corr
}

// roundTrip sends req and reads its response.
func (c *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	corr := c.send(req)
	resp := req.ResponseKind()
	if got := c.recv(resp); got != corr {
		c.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	return resp
}

// echo round-trips an echo request and checks the echoed name.
func (c *rawConn) echo(name string, v int16) {
	c.t.Helper()
	resp := c.roundTrip(echoRequest(name, v)).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 1 || resp.Resources[0].ResourceName != name {
		c.t.Fatalf("echo %q: %+v", name, resp.Resources)
	}
}

// expectClosed waits for the server to close the connection (EOF or
// reset) without sending anything more.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	var b [1]byte
	n, err := c.nc.Read(b[:])
	if n > 0 {
		c.t.Fatal("server sent bytes instead of closing")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("server did not close the connection")
	}
	if err == nil {
		c.t.Fatal("read returned no error")
	}
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// seed returns the client's seed broker, whose requests share one
// connection.
func seed(t *testing.T, cl *kgo.Client) *kgo.Broker {
	t.Helper()
	seeds := cl.SeedBrokers()
	if len(seeds) != 1 {
		t.Fatalf("%d seed brokers", len(seeds))
	}
	return seeds[0]
}

// logRecorder is a slog.Handler keeping every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}
func (l *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler { return &boundRecorder{l, attrs} }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

type boundRecorder struct {
	*logRecorder
	attrs []slog.Attr
}

func (b *boundRecorder) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(b.attrs...)
	return b.logRecorder.Handle(ctx, r)
}
func (b *boundRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &boundRecorder{b.logRecorder, append(append([]slog.Attr(nil), b.attrs...), attrs...)}
}

// find returns the records with message msg whose attributes contain
// every key=value in kv (values compared as strings).
func (l *logRecorder) find(msg string, kv ...string) []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	for _, r := range l.records {
		if r.Message != msg {
			continue
		}
		attrs := map[string]string{}
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.String()
			return true
		})
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if !strings.Contains(attrs[kv[i]], kv[i+1]) {
				ok = false
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// above returns the messages of records above level.
func (l *logRecorder) above(level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if r.Level > level {
			out = append(out, fmt.Sprintf("%s %s", r.Level, r.Message))
		}
	}
	return out
}
