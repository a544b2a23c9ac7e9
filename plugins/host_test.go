//go:build unix

package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"go.uber.org/goleak"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// The test binary doubles as a helper process, chosen by hostHelperEnv
// before any test runs:
//
//	host  Load the plugin at hostPluginEnv, print "pid=<plugin pid>", wait
//	      for SIGTERM (the Pdeathsig test kills it with SIGKILL instead).
//	hang  write our pid to hostPIDFileEnv and never answer the go-plugin
//	      handshake (a plugin that hangs at start).
//	exit  exit 1 without a handshake (not a plugin).
//	otherversion  write our pid to hostPIDFileEnv and serve a plugin that
//	      speaks another ProtocolVersion of Handshake (an incompatible
//	      plugin build).
const (
	hostHelperEnv  = "CHRONIK_PLUGINS_TEST_HELPER"
	hostPluginEnv  = "CHRONIK_PLUGINS_TEST_PLUGIN"
	hostPIDFileEnv = "CHRONIK_PLUGINS_TEST_PIDFILE"
)

func init() {
	switch os.Getenv(hostHelperEnv) {
	case "":
	case "host":
		os.Exit(hostHelperHost())
	case "hang":
		if f := os.Getenv(hostPIDFileEnv); f != "" {
			_ = os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())), 0o600)
		}
		hostWaitTerm()
		os.Exit(0)
	case "exit":
		fmt.Fprintln(os.Stderr, "not a plugin")
		os.Exit(1)
	case "otherversion":
		if f := os.Getenv(hostPIDFileEnv); f != "" {
			_ = os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())), 0o600)
		}
		hs := Handshake
		hs.ProtocolVersion++
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: hs,
			Plugins: plugin.PluginSet{PluginName: &GRPCPlugin{Factory: Factory{Name: "otherversion",
				New: func(context.Context, metadata.Config) (metadata.Backend, error) {
					return nil, errors.New("otherversion: never configured")
				}}}},
			GRPCServer: plugin.DefaultGRPCServer,
		})
		os.Exit(0)
	}
}

func hostWaitTerm() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
}

func hostHelperHost() int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := Load(ctx, HostConfig{Path: os.Getenv(hostPluginEnv), Config: metadata.Config{NodeID: "helper"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: Load:", err)
		return 1
	}
	fmt.Printf("pid=%d\n", h.PID())
	hostWaitTerm()
	_ = h.Close()
	return 0
}

// hostTest is one subtest of TestHost; per-OS files add theirs to
// osHostTests.
type hostTest struct {
	name string
	f    func(t *testing.T, plugin string)
}

var osHostTests []hostTest

// TestHost runs the loader against real plugin processes of
// internal/testplugin, built once.
func TestHost(t *testing.T) {
	plugin := buildTestPlugin(t)
	tests := []hostTest{
		{"LoadCallsClose", testHostLoadCallsClose},
		{"PluginLogsReachSlog", testHostPluginLogs},
		{"RestartAfterCrash", testHostRestartAfterCrash},
		{"WatchResumesAcrossCrash", testHostWatchResumes},
		{"WatchCompactedAcrossCrash", testHostWatchCompacted},
		{"ConcurrentCallsAcrossCrash", testHostConcurrentCallsAcrossCrash},
		{"CallsRespectContextDuringRestart", testHostCallsRespectContextDuringRestart},
		{"RestartLimit", testHostRestartLimit},
		{"Kill", testHostKill},
		{"LoadHonoursContext", testHostLoadContext},
		{"LoadFailures", testHostLoadFailures},
		{"LoadRefusesOtherProtocolVersion", testHostLoadOtherVersion},
		{"Probe", testHostProbe},
	}
	for _, tc := range append(tests, osHostTests...) {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, plugin) })
	}
}

// buildTestPlugin builds internal/testplugin into a temporary directory.
func buildTestPlugin(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	out := filepath.Join(t.TempDir(), ExecutablePrefix+"test")
	cmd := exec.Command(goTool, "build", "-o", out, "./internal/testplugin")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the test plugin: %v\n%s", err, b)
	}
	return out
}

func hostCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// loadHost loads the plugin with cfg (Path filled in) and closes it at
// cleanup.
func loadHost(t *testing.T, plugin string, cfg HostConfig) *Host {
	t.Helper()
	cfg.Path = plugin
	h, err := Load(hostCtx(t), cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func hostReg(id int32) metadata.BrokerRegistration {
	return metadata.BrokerRegistration{ID: id, IncarnationID: fmt.Sprintf("inc-%d", id),
		Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id}}}
}

// hostEventually polls cond until it holds or d passes.
func hostEventually(t *testing.T, d time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+format, append([]any{d}, args...)...)
		}
		<-tick.C
	}
}

// processGone reports whether pid no longer runs (gone or a zombie).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may contain spaces and parentheses.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// killPlugin SIGKILLs the host's plugin process and waits until it is gone.
func killPlugin(t *testing.T, h *Host) int {
	t.Helper()
	pid := h.PID()
	if pid <= 0 {
		t.Fatalf("PID() = %d", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	hostEventually(t, 10*time.Second, func() bool { return processGone(pid) }, "plugin %d still runs", pid)
	return pid
}

// hostRecv receives one batch within the deadline; ok is false if the
// channel closed.
func hostRecv(t *testing.T, ch <-chan metadata.WatchBatch) (metadata.WatchBatch, bool) {
	t.Helper()
	select {
	case b, ok := <-ch:
		return b, ok
	case <-time.After(20 * time.Second):
		t.Fatalf("no watch batch within 20s")
		return metadata.WatchBatch{}, false
	}
}

// hostDrain receives until ch closes and returns what came.
func hostDrain(t *testing.T, ch <-chan metadata.WatchBatch) []metadata.WatchBatch {
	t.Helper()
	var got []metadata.WatchBatch
	for {
		b, ok := hostRecv(t, ch)
		if !ok {
			return got
		}
		got = append(got, b)
	}
}

// registerRetry registers id, retrying while the plugin restarts (the
// registration is idempotent per incarnation).
func registerRetry(t *testing.T, h *Host, id int32) metadata.Broker {
	t.Helper()
	var err error
	for range 5 {
		var b metadata.Broker
		b, err = h.RegisterBroker(hostCtx(t), hostReg(id))
		if err == nil {
			return b
		}
		if !errors.Is(err, metadata.ErrUnavailable) {
			break
		}
	}
	t.Fatalf("RegisterBroker(%d): %v", id, err)
	return metadata.Broker{}
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu   sync.Mutex
	recs []loggedRecord
}

type loggedRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r *logRecorder) logger() *slog.Logger {
	return slog.New(&recordingHandler{r: r, level: LevelTrace})
}

func (r *logRecorder) find(msg string) (loggedRecord, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec.msg == msg {
			return rec, true
		}
	}
	return loggedRecord{}, false
}

type recordingHandler struct {
	r     *logRecorder
	attrs []slog.Attr
	level slog.Level
}

func (h *recordingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	rec := loggedRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.r.mu.Lock()
	h.r.recs = append(h.r.recs, rec)
	h.r.mu.Unlock()
	return nil
}

func (h *recordingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clip(h.attrs), as...)
	return &c
}

func (h *recordingHandler) WithGroup(string) slog.Handler { return h }

func testHostLoadCallsClose(t *testing.T, plugin string) {
	ignore := goleak.IgnoreCurrent()
	ctx := hostCtx(t)
	h := loadHost(t, plugin, HostConfig{Config: metadata.Config{NodeID: "n1", DataDir: t.TempDir()}})

	info, err := h.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Name != "test" || info.NodeID != "n1" || !info.Has(metadata.CapCompact) {
		t.Fatalf("Info = %+v, want name test, node n1, compact", info)
	}
	ch, err := h.Watch(ctx, 0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	br, err := h.RegisterBroker(ctx, hostReg(1))
	if err != nil || br.Epoch != 1 {
		t.Fatalf("RegisterBroker = %+v, %v; want epoch 1", br, err)
	}
	if _, err := h.Heartbeat(ctx, 1, br.Epoch); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	if _, err := h.Heartbeat(ctx, 1, 99); !errors.Is(err, metadata.ErrStaleEpoch) {
		t.Fatalf("Heartbeat with a wrong epoch = %v, want ErrStaleEpoch", err)
	}
	spec := metadata.TopicSpec{Name: "t", ID: metadata.TopicID{1}, Partitions: []metadata.PartitionSpec{{Replicas: []int32{1}, Leader: 1}}}
	if _, err := h.CreateTopic(ctx, spec); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	if _, err := h.CreateTopic(ctx, spec); !errors.Is(err, metadata.ErrTopicExists) {
		t.Fatalf("CreateTopic again = %v, want ErrTopicExists", err)
	}
	st, err := h.Snapshot(ctx)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if st.Revision != 2 || len(st.Brokers) != 1 || len(st.Topics) != 1 {
		t.Fatalf("Snapshot = rev %d, %d brokers, %d topics; want 2, 1, 1", st.Revision, len(st.Brokers), len(st.Topics))
	}
	for rev := metadata.Revision(1); rev <= 2; rev++ {
		if b, ok := hostRecv(t, ch); !ok || b.Err != nil || b.Revision != rev {
			t.Fatalf("watch batch = %+v (open %v), want revision %d", b, ok, rev)
		}
	}
	if err := h.Compact(ctx, 1); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if _, err := h.Watch(ctx, 0); !errors.Is(err, metadata.ErrCompacted) {
		t.Fatalf("Watch(0) after Compact(1) = %v, want ErrCompacted", err)
	}
	if err := h.AddMember(ctx, metadata.Member{ID: "n2", Voter: true}); !errors.Is(err, metadata.ErrUnsupported) {
		t.Fatalf("AddMember on a backend without membership = %v, want ErrUnsupported", err)
	}

	pid := h.PID()
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, b := range hostDrain(t, ch) {
		if !errors.Is(b.Err, ErrHostClosed) {
			t.Fatalf("batch after Close = %+v, want none or ErrHostClosed", b)
		}
	}
	if !processGone(pid) {
		t.Fatalf("plugin %d runs after Close", pid)
	}
	if _, err := h.Snapshot(ctx); !errors.Is(err, ErrHostClosed) || !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("Snapshot after Close = %v, want ErrHostClosed (ErrUnavailable)", err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	goleak.VerifyNone(t, ignore)
}

func testHostPluginLogs(t *testing.T, plugin string) {
	rec := &logRecorder{}
	loadHost(t, plugin, HostConfig{Logger: rec.logger(), Config: metadata.Config{NodeID: "n-logs"}})
	var info, warn loggedRecord
	hostEventually(t, 10*time.Second, func() bool {
		var ok1, ok2 bool
		info, ok1 = rec.find("test backend configured")
		warn, ok2 = rec.find("test backend warning")
		return ok1 && ok2
	}, "the plugin's log lines did not reach the slog handler")
	if info.level != slog.LevelInfo || info.attrs["plugin"] != "test" || info.attrs["node_id"] != "n-logs" {
		t.Fatalf("info record = %+v, want level INFO, plugin=test, node_id=n-logs", info)
	}
	if warn.level != slog.LevelWarn || warn.attrs["plugin"] != "test" {
		t.Fatalf("warn record = %+v, want level WARN, plugin=test", warn)
	}
	// go-plugin's own records keep plugin=<name>; its "plugin" argument
	// (the path) is renamed.
	if r, ok := rec.find("waiting for RPC address"); !ok || r.attrs["plugin"] != "test" || r.attrs["plugin_path"] != plugin {
		t.Fatalf("go-plugin record = %+v (found %v), want plugin=test plugin_path=%s", r, ok, plugin)
	}
}

func testHostConcurrentCallsAcrossCrash(t *testing.T, plugin string) {
	ctx := hostCtx(t)
	h := loadHost(t, plugin, HostConfig{Config: metadata.Config{NodeID: "n1", DataDir: t.TempDir()}})
	if _, err := h.RegisterBroker(ctx, hostReg(1)); err != nil {
		t.Fatalf("RegisterBroker: %v", err)
	}
	pid := h.PID()
	start := make(chan struct{})
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			<-start
			for range 20 {
				st, err := h.Snapshot(ctx)
				if err == nil && st.Revision != 1 {
					err = fmt.Errorf("snapshot at revision %d, want 1", st.Revision)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	close(start)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Snapshot across the crash: %v", err)
	}
	// Everyone waited for the same restart.
	hostEventually(t, 10*time.Second, func() bool { return h.PID() != pid }, "no restart")
	if _, err := h.Info(ctx); err != nil {
		t.Fatalf("Info: %v", err)
	}
	if n := h.Restarts(); n != 1 {
		t.Fatalf("Restarts() = %d, want 1", n)
	}
}

func testHostCallsRespectContextDuringRestart(t *testing.T, plugin string) {
	h := loadHost(t, plugin, HostConfig{RestartBackoff: time.Hour, Config: metadata.Config{NodeID: "n1"}})
	killPlugin(t, h)
	if _, err := h.Info(hostCtx(t)); err != nil { // the first restart is immediate
		t.Fatalf("Info after the first crash: %v", err)
	}
	killPlugin(t, h)
	// The second restart waits an hour: calls give up at their deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := h.Snapshot(ctx)
	if !errors.Is(err, metadata.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Snapshot during a delayed restart = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if _, err := h.RegisterBroker(ctx, hostReg(1)); !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("RegisterBroker during a delayed restart = %v, want ErrUnavailable", err)
	}
	// Close does not wait for the backoff either.
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := h.Restarts(); n != 1 {
		t.Fatalf("Restarts() = %d, want 1", n)
	}
}

func testHostRestartAfterCrash(t *testing.T, plugin string) {
	ctx := hostCtx(t)
	rec := &logRecorder{}
	h := loadHost(t, plugin, HostConfig{Logger: rec.logger(), Config: metadata.Config{NodeID: "n1", DataDir: t.TempDir()}})
	if _, err := h.RegisterBroker(ctx, hostReg(1)); err != nil {
		t.Fatalf("RegisterBroker: %v", err)
	}
	old := killPlugin(t, h)

	// The first call after the crash: read-only, so it waits for the
	// restart and succeeds.
	st, err := h.Snapshot(ctx)
	if err != nil {
		t.Fatalf("Snapshot after the crash: %v", err)
	}
	if _, ok := st.Brokers[1]; !ok || st.Revision != 1 {
		t.Fatalf("Snapshot after restart = %+v, want broker 1 at revision 1", st)
	}
	if n := h.Restarts(); n != 1 {
		t.Fatalf("Restarts() = %d, want 1", n)
	}
	if pid := h.PID(); pid == old || pid <= 0 {
		t.Fatalf("PID() = %d after restart (old %d)", pid, old)
	}
	// Configure was sent again: the new process knows its node id, and the
	// data dir saw two Configure calls.
	info, err := h.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.NodeID != "n1" || len(info.Members) != 1 || info.Members[0].Address != "starts=2" {
		t.Fatalf("Info after restart = %+v, want node n1 and starts=2", info)
	}
	if br, err := h.RegisterBroker(ctx, hostReg(2)); err != nil || br.Epoch != 2 {
		t.Fatalf("RegisterBroker after restart = %+v, %v; want epoch 2", br, err)
	}
	if _, ok := rec.find("plugin restarted"); !ok {
		t.Fatalf("no \"plugin restarted\" record")
	}
}

func testHostWatchResumes(t *testing.T, plugin string) {
	ctx := hostCtx(t)
	h := loadHost(t, plugin, HostConfig{Config: metadata.Config{NodeID: "n1", DataDir: t.TempDir()}})
	ch, err := h.Watch(ctx, 0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	for id := int32(1); id <= 3; id++ {
		registerRetry(t, h, id)
	}
	// Receive only the first: revisions 2 and 3 are in flight (or not yet
	// sent) when the plugin dies.
	if b, _ := hostRecv(t, ch); b.Err != nil || b.Revision != 1 {
		t.Fatalf("first batch = %+v, want revision 1", b)
	}
	old := killPlugin(t, h)
	for id := int32(4); id <= 6; id++ {
		registerRetry(t, h, id)
	}
	// Revisions 2..6 exactly once, in order: nothing lost, nothing twice.
	for rev := metadata.Revision(2); rev <= 6; rev++ {
		b, ok := hostRecv(t, ch)
		if !ok || b.Err != nil || b.Revision != rev {
			t.Fatalf("batch = %+v (open %v), want revision %d", b, ok, rev)
		}
		if len(b.Events) != 1 || b.Events[0].Broker.ID != int32(rev) {
			t.Fatalf("batch %d = %+v, want the registration of broker %d", rev, b.Events, rev)
		}
	}
	if h.Restarts() != 1 || h.PID() == old {
		t.Fatalf("Restarts() = %d, PID %d (old %d): the stream was not served by a restarted plugin", h.Restarts(), h.PID(), old)
	}
	// The stream stays open and goes on.
	registerRetry(t, h, 7)
	if b, ok := hostRecv(t, ch); !ok || b.Err != nil || b.Revision != 7 {
		t.Fatalf("batch = %+v (open %v), want revision 7", b, ok)
	}
}

func testHostWatchCompacted(t *testing.T, plugin string) {
	ctx := hostCtx(t)
	h := loadHost(t, plugin, HostConfig{Config: metadata.Config{NodeID: "n1", DataDir: t.TempDir(),
		Settings: map[string]string{"compact-on-restart": "true"}}})
	ch, err := h.Watch(ctx, 0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	for id := int32(1); id <= 2; id++ {
		registerRetry(t, h, id)
		if b, _ := hostRecv(t, ch); b.Err != nil || b.Revision != metadata.Revision(id) {
			t.Fatalf("batch = %+v, want revision %d", b, id)
		}
	}
	// The restarted plugin commits revision 3 and compacts through it:
	// the stream cannot resume from 2.
	killPlugin(t, h)
	got := hostDrain(t, ch)
	if len(got) != 1 || !errors.Is(got[0].Err, metadata.ErrCompacted) {
		t.Fatalf("after the crash the stream delivered %+v, want one Err batch with ErrCompacted", got)
	}
}

func testHostRestartLimit(t *testing.T, plugin string) {
	ctx := hostCtx(t)
	h := loadHost(t, plugin, HostConfig{
		MaxRestarts: 2, RestartBackoff: 10 * time.Millisecond,
		Config: metadata.Config{NodeID: "n1", DataDir: t.TempDir(), Settings: map[string]string{"exit-on-restart": "true"}},
	})
	killPlugin(t, h)
	// Every restart dies in Configure; after two attempts the host gives
	// up and calls fail at once.
	var err error
	for range 10 {
		_, err = h.Snapshot(ctx)
		if err == nil {
			t.Fatalf("Snapshot succeeded on a plugin that cannot start")
		}
		if !errors.Is(err, metadata.ErrUnavailable) {
			t.Fatalf("Snapshot = %v, want ErrUnavailable", err)
		}
		if strings.Contains(err.Error(), "restarts within") {
			break
		}
	}
	if !strings.Contains(err.Error(), "restarts within") {
		t.Fatalf("no restart limit reached after 10 calls; last error: %v", err)
	}
	if _, err := h.Info(ctx); !errors.Is(err, metadata.ErrUnavailable) || ctx.Err() != nil {
		t.Fatalf("Info with the budget exhausted = %v, want ErrUnavailable", err)
	}
	if n := h.Restarts(); n != 0 {
		t.Fatalf("Restarts() = %d, want 0", n)
	}
}

func testHostKill(t *testing.T, plugin string) {
	ignore := goleak.IgnoreCurrent()
	h := loadHost(t, plugin, HostConfig{Config: metadata.Config{NodeID: "n1"}})
	ctx := hostCtx(t)
	ch, err := h.Watch(ctx, 0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	pid := h.PID()
	if err := h.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if !processGone(pid) {
		t.Fatalf("plugin %d runs after Kill", pid)
	}
	if _, err := h.RegisterBroker(ctx, hostReg(1)); !errors.Is(err, metadata.ErrUnavailable) || ctx.Err() != nil {
		t.Fatalf("RegisterBroker after Kill = %v, want ErrUnavailable at once", err)
	}
	for _, b := range hostDrain(t, ch) {
		if !errors.Is(b.Err, metadata.ErrUnavailable) {
			t.Fatalf("batch after Kill = %+v, want none or ErrUnavailable", b)
		}
	}
	if n := h.Restarts(); n != 0 {
		t.Fatalf("Restarts() = %d after Kill, want 0", n)
	}
	_ = h.Close()
	goleak.VerifyNone(t, ignore)
}

func testHostLoadContext(t *testing.T, _ string) {
	ignore := goleak.IgnoreCurrent()
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loaded := make(chan error, 1)
	go func() {
		_, err := Load(ctx, HostConfig{
			Path: os.Args[0],
			Env:  []string{hostHelperEnv + "=hang", hostPIDFileEnv + "=" + pidFile},
		})
		loaded <- err
	}()
	// Once the plugin process runs (and will never answer), give up.
	var pid int
	hostEventually(t, 20*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(string(b))
		return err == nil && pid > 0
	}, "the hanging plugin did not start")
	cancel()
	select {
	case err := <-loaded:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Load of a plugin that never answers, cancelled = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Load did not return after its ctx was cancelled")
	}
	if !processGone(pid) {
		t.Fatalf("the hanging plugin %d still runs after Load returned", pid)
	}
	goleak.VerifyNone(t, ignore)
}

func testHostLoadFailures(t *testing.T, _ string) {
	ctx := hostCtx(t)
	if _, err := Load(ctx, HostConfig{}); !errors.Is(err, metadata.ErrInvalid) {
		t.Fatalf("Load without a path = %v, want ErrInvalid", err)
	}
	if _, err := Load(ctx, HostConfig{Path: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Fatalf("Load of a missing file succeeded")
	}
	_, err := Load(ctx, HostConfig{Path: os.Args[0], Env: []string{hostHelperEnv + "=exit"}})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Load of a program that is not a plugin = %v, want an error before the deadline", err)
	}
}

// testHostLoadOtherVersion: the handshake is versioned. A plugin built
// against another ProtocolVersion (same magic cookie) is refused at the
// handshake, and its process does not outlive the failed Load.
func testHostLoadOtherVersion(t *testing.T, _ string) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	_, err := Load(hostCtx(t), HostConfig{
		Path: os.Args[0],
		Env:  []string{hostHelperEnv + "=otherversion", hostPIDFileEnv + "=" + pidFile},
	})
	want := fmt.Sprintf("Plugin version: %d, Client versions: [%d]", Handshake.ProtocolVersion+1, Handshake.ProtocolVersion)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Load of a plugin with another protocol version = %v, want an error naming %q", err, want)
	}
	b, err := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(string(b))
	if err != nil || pid <= 0 {
		t.Fatalf("the plugin did not start (pid file: %q, %v)", b, err)
	}
	hostEventually(t, 10*time.Second, func() bool { return processGone(pid) }, "the refused plugin %d still runs", pid)
}

func testHostProbe(t *testing.T, plugin string) {
	ignore := goleak.IgnoreCurrent()
	info, err := Probe(hostCtx(t), plugin, nil, nil)
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if info.Name != "test" || info.Version != "0.0.1" || !info.Has(metadata.CapPersistence) || info.NodeID != "" {
		t.Fatalf("Probe = %+v, want the unconfigured Info of the test plugin", info)
	}
	goleak.VerifyNone(t, ignore)
}
