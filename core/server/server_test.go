package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"go.uber.org/goleak"

	"github.com/chronik-go/chronik/core/protocol"
)

func wantKeys(t *testing.T, keys []kmsg.ApiVersionsResponseApiKey) {
	t.Helper()
	want := []kmsg.ApiVersionsResponseApiKey{
		{ApiKey: 3, MinVersion: 0, MaxVersion: 12},
		{ApiKey: 18, MinVersion: 0, MaxVersion: 4},
		{ApiKey: 32, MinVersion: 0, MaxVersion: 4},
	}
	if len(keys) != len(want) {
		t.Fatalf("api keys %+v", keys)
	}
	for i := range want {
		if keys[i].ApiKey != want[i].ApiKey || keys[i].MinVersion != want[i].MinVersion || keys[i].MaxVersion != want[i].MaxVersion {
			t.Fatalf("api key %d: %+v, want %+v", i, keys[i], want[i])
		}
	}
}

// TestKgoAPIVersions: a real kgo client negotiates (it first sends v5,
// gets UNSUPPORTED_VERSION with our range, retries at v4) and its
// ApiVersions request is answered from the registry.
func TestKgoAPIVersions(t *testing.T) {
	e := startEnv(t, nil)
	cl := newClient(t, e.addr)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()

	kresp, err := cl.Request(ctx, kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 || resp.Version != 4 {
		t.Fatalf("error %d version %d", resp.ErrorCode, resp.Version)
	}
	wantKeys(t, resp.ApiKeys)

	// Through the seed broker's connection too. Broker.Request sends the
	// request as is: without the v3+ software fields it is invalid
	// (Kafka answers INVALID_REQUEST too), with them it is answered.
	req := kmsg.NewPtrApiVersionsRequest()
	kresp, err = seed(t, cl).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r := kresp.(*kmsg.ApiVersionsResponse); r.ErrorCode != kerr.InvalidRequest.Code || len(r.ApiKeys) != 0 {
		t.Fatalf("no software name: error %d keys %+v", r.ErrorCode, r.ApiKeys)
	}
	req.ClientSoftwareName, req.ClientSoftwareVersion = "chronik-test", "1.0"
	kresp, err = seed(t, cl).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys(t, kresp.(*kmsg.ApiVersionsResponse).ApiKeys)

	// A client pinned to old versions (Kafka 0.11.0: ApiVersions v1)
	// still works.
	old := newClient(t, e.addr, kgo.MaxVersions(kversion.V0_11_0()))
	kresp, err = old.Request(ctx, kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		t.Fatal(err)
	}
	if r := kresp.(*kmsg.ApiVersionsResponse); r.Version != 1 || r.ErrorCode != 0 {
		t.Fatalf("pinned client: version %d error %d", r.Version, r.ErrorCode)
	}
}

// TestAPIVersionsUnsupportedVersion: versions above ours get Kafka's v0
// UNSUPPORTED_VERSION answer on a connection that stays open.
func TestAPIVersionsUnsupportedVersion(t *testing.T) {
	e := startEnv(t, nil)
	c := dialRaw(t, e.addr)
	for _, v := range []int16{127, 5} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "future", "1.0"
		corr := c.send(req)
		resp := kmsg.NewPtrApiVersionsResponse() // read as v0
		if got := c.recv(resp); got != corr {
			t.Fatalf("correlation id %d, want %d", got, corr)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != 1 ||
			resp.ApiKeys[0].ApiKey != 18 || resp.ApiKeys[0].MinVersion != 0 || resp.ApiKeys[0].MaxVersion != 4 {
			t.Fatalf("v%d: error %d keys %+v", v, resp.ErrorCode, resp.ApiKeys)
		}
	}
	// The connection still serves every version we advertise, flexible
	// (v3, v4: header v2 request, header v0 response) or not.
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "raw", "0.1"
		resp := c.roundTrip(req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: error %d", v, resp.ErrorCode)
		}
		wantKeys(t, resp.ApiKeys)
	}
	// KIP-511 validation.
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "bad name", "1"
	if resp := c.roundTrip(req).(*kmsg.ApiVersionsResponse); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("invalid software name: error %d", resp.ErrorCode)
	}
}

// TestFlexibleAndNot: the echo API round-trips at every version, v0-v3
// with header v1 and v4 with the flexible headers, raw and through kgo.
func TestFlexibleAndNot(t *testing.T) {
	e := startEnv(t, nil)
	c := dialRaw(t, e.addr)
	for v := int16(0); v <= 4; v++ {
		c.echo(fmt.Sprintf("fast:v%d", v), v)
	}
	cl := newClient(t, e.addr)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	for _, pin := range []*kversion.Versions{nil, kversion.V2_3_0()} { // DescribeConfigs v4 / v2
		b := seed(t, cl)
		if pin != nil {
			b = seed(t, newClient(t, e.addr, kgo.MaxVersions(pin)))
		}
		kresp, err := b.Request(ctx, echoRequest("fast:kgo", 4))
		if err != nil {
			t.Fatal(err)
		}
		resp := kresp.(*kmsg.DescribeConfigsResponse)
		wantVersion := int16(4)
		if pin != nil {
			wantVersion = 2
		}
		if resp.Version != wantVersion || len(resp.Resources) != 1 || resp.Resources[0].ResourceName != "fast:kgo" {
			t.Fatalf("version %d resources %+v", resp.Version, resp.Resources)
		}
	}
}

// TestPipelinedResponsesInOrder: a slow (deferred) request followed by fast
// ones on one connection: the reader goes on and the fast handlers run, but
// their responses wait for the slow one.
func TestPipelinedResponsesInOrder(t *testing.T) {
	e := startEnv(t, nil)
	c := dialRaw(t, e.addr)
	var batch []byte
	var corrs []int32
	for _, name := range []string{"slow:1", "fast:2", "noresp:3", "fast:4"} {
		b, corr := c.frame(echoRequest(name, 4))
		batch = append(batch, b...)
		corrs = append(corrs, corr)
	}
	c.write(batch)
	// Every handler ran although the first has not answered: the reader
	// did not wait for it.
	for _, name := range []string{"slow:1", "fast:2", "noresp:3", "fast:4"} {
		e.waitHandled(t, name)
	}
	if got := e.callOrder(); !slices.Equal(got, []string{"slow:1", "fast:2", "noresp:3", "fast:4"}) {
		t.Fatalf("handlers called in order %v", got)
	}
	// Nothing may be written yet: fast:2 is ready but behind slow:1.
	_ = c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var one [1]byte
	if n, _ := c.nc.Read(one[:]); n != 0 {
		t.Fatal("a response overtook the slow one")
	}
	close(e.gate)
	for i, want := range []struct {
		corr int32
		name string
	}{{corrs[0], "slow:1"}, {corrs[1], "fast:2"}, {corrs[3], "fast:4"}} {
		resp := echoRequest("", 4).ResponseKind().(*kmsg.DescribeConfigsResponse)
		if corr := c.recv(resp); corr != want.corr || resp.Resources[0].ResourceName != want.name {
			t.Fatalf("response %d: correlation id %d name %q, want %d %q", i, corr, resp.Resources[0].ResourceName, want.corr, want.name)
		}
	}
	c.echo("fast:after", 4) // nothing extra was written for noresp:3
	if e.overlap.Load() {
		t.Fatal("handlers of one connection overlapped")
	}
}

// TestPipelinedKgo: kgo pipelines requests on a broker connection and
// matches responses by order; a fast request issued after a slow one
// completes only after it, and both succeed.
func TestPipelinedKgo(t *testing.T) {
	e := startEnv(t, nil)
	b := seed(t, newClient(t, e.addr))
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	if _, err := b.Request(ctx, echoRequest("fast:warmup", 4)); err != nil {
		t.Fatal(err)
	}
	e.waitHandled(t, "fast:warmup")

	type result struct {
		name string
		err  error
	}
	results := make(chan result, 2)
	var wg sync.WaitGroup
	issue := func(name string) {
		wg.Go(func() {
			kresp, err := b.Request(ctx, echoRequest(name, 4))
			if err == nil {
				if got := kresp.(*kmsg.DescribeConfigsResponse).Resources[0].ResourceName; got != name {
					err = fmt.Errorf("answer for %q is %q", name, got)
				}
			}
			results <- result{name, err}
		})
	}
	issue("slow:kgo")
	e.waitHandled(t, "slow:kgo")
	issue("fast:kgo")
	e.waitHandled(t, "fast:kgo")
	select {
	case r := <-results:
		t.Fatalf("%q finished before the slow request was released (%v)", r.name, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	close(e.gate)
	wg.Wait()
	// kgo reads responses in request order and fails a request whose
	// response carries another correlation id: both succeeding means
	// the server kept the order.
	for range 2 {
		if r := <-results; r.err != nil {
			t.Fatal(r.err)
		}
	}
}

// TestHandlerFailuresCloseAfterEarlierResponses: a Go error, a panic (now
// or deferred) or a response of the wrong kind closes the connection after
// the responses queued before it are written.
func TestHandlerFailuresCloseAfterEarlierResponses(t *testing.T) {
	e := startEnv(t, nil)
	for _, tc := range []struct{ name, reason string }{
		{"error:x", reasonHandlerError},
		{"panic:x", reasonHandlerPanic},
		{"deferpanic:x", reasonHandlerPanic},
		{"wrongkey:x", reasonHandlerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.closedFor(tc.reason)
			errsBefore := testutil.ToFloat64(e.srv.metrics.errors.WithLabelValues("DescribeConfigs"))
			c := dialRaw(t, e.addr)
			var batch []byte
			first, corr := c.frame(echoRequest("fast:before", 4))
			batch = append(batch, first...)
			for _, name := range []string{tc.name, "fast:after"} {
				b, _ := c.frame(echoRequest(name, 4))
				batch = append(batch, b...)
			}
			c.write(batch)
			resp := echoRequest("", 4).ResponseKind().(*kmsg.DescribeConfigsResponse)
			if got := c.recv(resp); got != corr || resp.Resources[0].ResourceName != "fast:before" {
				t.Fatalf("first response %d %+v", got, resp.Resources)
			}
			c.expectClosed()
			eventually(t, "close counted", func() bool { return e.closedFor(tc.reason) == before+1 })
			if got := testutil.ToFloat64(e.srv.metrics.errors.WithLabelValues("DescribeConfigs")); got != errsBefore+1 {
				t.Fatalf("request errors %v, want %v", got, errsBefore+1)
			}
		})
	}
	if len(e.logs.find("handler panicked")) != 2 {
		t.Fatalf("panics logged: %d", len(e.logs.find("handler panicked")))
	}
}

// TestHostileConnections: each hostile byte stream closes its own
// connection only; a raw connection and a kgo client opened before keep
// working throughout.
func TestHostileConnections(t *testing.T) {
	e := startEnv(t, nil)
	good := dialRaw(t, e.addr)
	good.echo("fast:good", 4)
	cl := newClient(t, e.addr)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()

	// A kgo client hammering the server for the whole test.
	stop := make(chan struct{})
	var kgoErr error
	var kgoRequests int
	var wg sync.WaitGroup
	wg.Go(func() {
		b := seed(t, cl)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := b.Request(ctx, echoRequest("fast:kgo", 4)); err != nil {
				kgoErr = err
				return
			}
			kgoRequests++
		}
	})

	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	withSize := func(b []byte) []byte { return append(be32(uint32(len(b))), b...) }
	echoFrame, _ := (&rawConn{f: kmsg.NewRequestFormatter()}).frame(echoRequest("fast:x", 4))
	truncatedBody := withSize(echoFrame[4 : len(echoFrame)-5])
	apiFrame := func(key, version int16) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = append(b, 0, 0, 0, 9, 0xff, 0xff) // correlation id 9, null client id
		return withSize(append(b, make([]byte, 16)...))
	}

	cases := []struct {
		name      string
		bytes     []byte
		halfClose bool
		reason    string
	}{
		{"http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false, reasonTooLarge},
		{"2 GiB size", be32(1 << 31), false, reasonTooLarge},
		{"max int32 size", be32(1<<31 - 1), false, reasonTooLarge},
		{"garbage frame", withSize([]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8}), false, reasonMalformed},
		{"garbage key", withSize([]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 0, 1, 'x'}), false, reasonUnknownAPI},
		{"short header", withSize([]byte{0, 18}), false, reasonMalformed},
		{"empty frame", be32(0), false, reasonMalformed},
		{"truncated frame", append(be32(100), make([]byte, 10)...), true, reasonClient},
		{"truncated size", []byte{0, 0}, true, reasonClient},
		{"truncated body", truncatedBody, false, reasonMalformed},
		{"unknown api key", apiFrame(1000, 0), false, reasonUnknownAPI},
		{"api not served", apiFrame(0, 9), false, reasonUnknownAPI},
		{"version not served", apiFrame(32, 5), false, reasonUnsupportedVersion},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.closedFor(tc.reason)
			bad := dialRaw(t, e.addr)
			bad.write(tc.bytes)
			if tc.halfClose {
				if err := bad.nc.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			bad.expectClosed()
			eventually(t, "close counted as "+tc.reason, func() bool { return e.closedFor(tc.reason) == before+1 })
			good.echo("fast:good", 4)
			good.echo("fast:good", 0)
		})
	}
	close(stop)
	wg.Wait()
	if kgoErr != nil {
		t.Fatalf("kgo client failed after %d requests: %v", kgoRequests, kgoErr)
	}
	if kgoRequests == 0 {
		t.Fatal("kgo client made no request")
	}
	// One info line per hostile connection, with the reason.
	if got := len(e.logs.find("connection closed", "reason", reasonTooLarge)); got != 3 {
		t.Fatalf("%d too-large log lines", got)
	}
	for _, r := range e.logs.find("connection closed", "reason", reasonTooLarge) {
		if r.Level != slog.LevelInfo {
			t.Fatalf("level %v", r.Level)
		}
	}
}

// TestMaxRequestSize: a frame one byte over the limit closes the
// connection with a clear log line; one at the limit is served.
func TestMaxRequestSize(t *testing.T) {
	const limit = 1024
	e := startEnv(t, func(c *Config) { c.MaxRequestSize = limit })

	// Find a name that makes the frame exactly limit bytes.
	c := dialRaw(t, e.addr)
	base, _ := c.frame(echoRequest("fast:", 1))
	name := "fast:" + strings.Repeat("x", limit-(len(base)-4))
	frame, _ := c.frame(echoRequest(name, 1))
	if len(frame)-4 != limit {
		t.Fatalf("frame of %d bytes", len(frame)-4)
	}
	c.echo(name, 1)

	big := dialRaw(t, e.addr)
	big.send(echoRequest(name+"y", 1))
	big.expectClosed()
	eventually(t, "log line", func() bool {
		return len(e.logs.find("connection closed", "reason", reasonTooLarge, "err", "1025 bytes exceeds the maximum request size of 1024")) == 1
	})
	c.echo("fast:still", 1)
}

// TestIdleConnectionReaped: a silent connection is closed after the idle
// timeout; a busy one is not.
func TestIdleConnectionReaped(t *testing.T) {
	const idle = 300 * time.Millisecond
	e := startEnv(t, func(c *Config) { c.IdleTimeout = idle })
	busy := dialRaw(t, e.addr)
	quiet := dialRaw(t, e.addr)
	quiet.echo("fast:once", 4)

	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		quiet.expectClosed()
	}()
	// Keep the busy one busy (well inside the timeout) until the quiet
	// one is reaped and for a few timeouts more.
	for i := 0; ; i++ {
		busy.echo(fmt.Sprintf("fast:%d", i), 4)
		select {
		case <-done:
			done = nil
		default:
		}
		if done == nil && time.Since(start) > 4*idle {
			break
		}
		if time.Since(start) > testTimeout {
			t.Fatal("quiet connection not reaped")
		}
		time.Sleep(idle / 10)
	}
	if e.closedFor(reasonIdle) != 1 {
		t.Fatalf("idle closes %v", e.closedFor(reasonIdle))
	}
	if time.Since(start) < idle {
		t.Fatal("reaped before the timeout")
	}
	busy.echo("fast:last", 4)
}

func TestMaxConnections(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.MaxConnections = 1 })
	first := dialRaw(t, e.addr)
	first.echo("fast:first", 4)
	second := dialRaw(t, e.addr)
	second.expectClosed()
	if got := testutil.ToFloat64(e.srv.metrics.rejected); got != 1 {
		t.Fatalf("rejected %v", got)
	}
	first.echo("fast:first", 4)
	_ = first.nc.Close()
	eventually(t, "slot freed", func() bool { return testutil.ToFloat64(e.srv.metrics.open) == 0 })
	third := dialRaw(t, e.addr)
	third.echo("fast:third", 4)
}

// TestCloseStopsEverything: Close with an in-flight deferred request, an
// idle connection and a connected kgo client returns, and no goroutine of
// the server remains.
func TestCloseStopsEverything(t *testing.T) {
	e := startEnv(t, nil)
	cl := newClient(t, e.addr)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	if _, err := seed(t, cl).Request(ctx, echoRequest("fast:kgo", 4)); err != nil {
		t.Fatal(err)
	}
	hanging := dialRaw(t, e.addr)
	hanging.send(echoRequest("hang:1", 4))
	e.waitHandled(t, "hang:1")
	idle := dialRaw(t, e.addr)
	idle.echo("fast:idle", 0)

	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	hanging.expectClosed()
	idle.expectClosed()
	cl.Close()
	goleak.VerifyNone(t)

	if err := e.srv.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := e.srv.Start(t.Context()); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		t.Fatal("still accepting")
	}
	// Metrics were unregistered: a new server can use the registry.
	cfg := DefaultConfig()
	cfg.Metrics = e.metrics
	srv, err := New(cfg, &protocol.Broker{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = srv.Close()
}

func TestCloseConcurrentAndBeforeStart(t *testing.T) {
	srv, err := New(DefaultConfig(), &protocol.Broker{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Addr() != nil || srv.AdvertisedAddr() != "" || len(srv.Addrs()) != 0 {
		t.Fatal("addresses before Start")
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := srv.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := srv.Start(t.Context()); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	e := startEnv(t, nil)
	if err := e.srv.Start(t.Context()); !errors.Is(err, ErrAlreadyStarted) {
		t.Fatalf("second Start: %v", err)
	}
	// The port is taken: Start fails and closes what it opened.
	cfg := DefaultConfig()
	cfg.ListenAddrs = []string{"127.0.0.1:0", e.addr}
	srv, err := New(cfg, &protocol.Broker{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err == nil || !strings.Contains(err.Error(), e.addr) {
		t.Fatalf("Start on a used port: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, nil, nil); err == nil {
		t.Fatal("nil broker accepted")
	}
	// A second server on the same metrics registry is refused.
	cfg = DefaultConfig()
	cfg.Metrics = e.metrics
	if _, err := New(cfg, &protocol.Broker{}, nil); err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Fatalf("shared registry: %v", err)
	}
	// Start honours ctx.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	srv, _ = New(DefaultConfig(), &protocol.Broker{}, nil)
	if err := srv.Start(ctx); err == nil {
		t.Fatal("Start with a cancelled context listened")
	}
	_ = srv.Close()
}

func TestMultipleListenersAndAdvertised(t *testing.T) {
	e := startEnv(t, func(c *Config) {
		c.ListenAddrs = []string{"127.0.0.1:0", "127.0.0.1:0"}
		c.AdvertisedAddr = "broker-1.example:19092"
	})
	addrs := e.srv.Addrs()
	if len(addrs) != 2 || addrs[0].String() == addrs[1].String() {
		t.Fatalf("addrs %v", addrs)
	}
	for _, a := range addrs {
		dialRaw(t, a.String()).echo("fast:x", 4)
	}
	if e.srv.AdvertisedAddr() != "broker-1.example:19092" {
		t.Fatalf("advertised %q", e.srv.AdvertisedAddr())
	}

	// Without AdvertisedAddr: the listen host with the bound port.
	e2 := startEnv(t, func(c *Config) { c.ListenAddrs = []string{"localhost:0"} })
	host, port, _ := net.SplitHostPort(e2.srv.AdvertisedAddr())
	if host != "localhost" || port == "0" || !strings.HasSuffix(e2.addr, ":"+port) {
		t.Fatalf("advertised %q, bound %q", e2.srv.AdvertisedAddr(), e2.addr)
	}
}

func TestMetrics(t *testing.T) {
	e := startEnv(t, nil)
	c := dialRaw(t, e.addr)
	for range 5 {
		c.echo("fast:m", 4)
	}
	req := kmsg.NewPtrApiVersionsRequest()
	c.roundTrip(req)
	if got := testutil.ToFloat64(e.srv.metrics.requests.WithLabelValues("DescribeConfigs")); got != 5 {
		t.Fatalf("DescribeConfigs requests %v", got)
	}
	if got := testutil.ToFloat64(e.srv.metrics.requests.WithLabelValues("ApiVersions")); got != 1 {
		t.Fatalf("ApiVersions requests %v", got)
	}
	if testutil.ToFloat64(e.srv.metrics.bytesIn) == 0 || testutil.ToFloat64(e.srv.metrics.bytesOut) == 0 {
		t.Fatal("no bytes counted")
	}
	if got := testutil.ToFloat64(e.srv.metrics.open); got != 1 {
		t.Fatalf("open connections %v", got)
	}
	// Everything is exposed on the registry given in Config.
	families, err := e.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
		if f.GetName() == "chronik_request_duration_seconds" {
			for _, m := range f.GetMetric() {
				if m.GetLabel()[0].GetValue() == "DescribeConfigs" && m.GetHistogram().GetSampleCount() != 5 {
					t.Fatalf("latency samples %d", m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	for _, n := range []string{"chronik_requests_total", "chronik_request_duration_seconds", "chronik_received_bytes_total",
		"chronik_sent_bytes_total", "chronik_open_connections", "chronik_connections_accepted_total"} {
		if !names[n] {
			t.Fatalf("metric %s not registered", n)
		}
	}
	_ = c.nc.Close()
	eventually(t, "connection closed", func() bool { return testutil.ToFloat64(e.srv.metrics.open) == 0 })
	if e.closedFor(reasonClient) != 1 {
		t.Fatalf("client closes %v", e.closedFor(reasonClient))
	}
}

// TestNothingPerRequestAboveDebug: an ordinary session logs nothing above
// debug but the listener lines.
func TestNothingPerRequestAboveDebug(t *testing.T) {
	e := startEnv(t, nil)
	cl := newClient(t, e.addr)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	for range 20 {
		if _, err := seed(t, cl).Request(ctx, echoRequest("fast:x", 4)); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	eventually(t, "connections closed", func() bool { return testutil.ToFloat64(e.srv.metrics.open) == 0 })
	if got := e.logs.above(slog.LevelDebug); !slices.Equal(got, []string{"INFO kafka listener started"}) {
		t.Fatalf("logs above debug: %v", got)
	}
}

// TestNoMetricsRegistry: metrics are optional.
func TestNoMetricsRegistry(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.Metrics = nil })
	dialRaw(t, e.addr).echo("fast:x", 4)
	if families, _ := e.metrics.Gather(); len(families) != 0 {
		t.Fatal("metrics registered")
	}
}
