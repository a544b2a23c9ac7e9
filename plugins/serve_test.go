//go:build linux

package plugins

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// testPluginEnv makes the test binary serve a fake backend (see TestMain).
const testPluginEnv = "CHRONIK_PLUGINS_TEST_SERVE"

// closeMarker is the file a test plugin's backend writes into its DataDir
// when it is closed, so the host can see that Serve closed it.
const closeMarker = "closed"

// markingBackend is a fakeBackend whose Close leaves closeMarker.
type markingBackend struct {
	*fakeBackend
	dir string
}

func (b markingBackend) Close() error {
	_ = b.fakeBackend.Close()
	return os.WriteFile(filepath.Join(b.dir, closeMarker), nil, 0o644)
}

// serveTestPlugin is the main of the test plugin process.
func serveTestPlugin() {
	Serve(Factory{Name: "testplugin", Version: "0.0.1", Capabilities: []metadata.Capability{metadata.CapCompact},
		New: func(ctx context.Context, cfg metadata.Config) (metadata.Backend, error) {
			Logger(ctx).Info("test backend configured", "node", cfg.NodeID)
			return markingBackend{fakeBackend: newFakeBackend(), dir: cfg.DataDir}, nil
		}})
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testPlugin struct {
	pc     *plugin.Client
	cmd    *exec.Cmd
	client *Client
	logs   *syncBuffer // the host logger's output, with the plugin's lines
}

// startTestPlugin starts the test binary as a plugin through go-plugin,
// the way a host does (gRPC only, AutoMTLS), and dispenses its Client.
func startTestPlugin(t *testing.T) *testPlugin {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), testPluginEnv+"=1", LogLevelEnv+"=debug")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logs := &syncBuffer{}
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          map[string]plugin.Plugin{PluginName: &GRPCPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
	})
	t.Cleanup(pc.Kill)
	rpc, err := pc.Client()
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	c, ok := raw.(*Client)
	if !ok {
		t.Fatalf("dispensed %T, want *Client", raw)
	}
	t.Cleanup(func() { c.Close() })
	return &testPlugin{pc: pc, cmd: cmd, client: c, logs: logs}
}

// waitFor polls cond until it holds or 10 s passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestServeThroughGoPlugin: a real plugin process, every kind of call, and
// a graceful end (go-plugin's Kill: the shutdown RPC) that closes the
// backend.
func TestServeThroughGoPlugin(t *testing.T) {
	p := startTestPlugin(t)
	c := p.client
	ctx := testCtx(t)

	info, err := c.Info(ctx)
	if err != nil || info.Name != "testplugin" || info.Version != "0.0.1" || !info.Has(metadata.CapCompact) {
		t.Fatalf("Info before Configure = %+v, %v", info, err)
	}
	if _, err := c.Snapshot(ctx); !errors.Is(err, metadata.ErrNotConfigured) {
		t.Fatalf("Snapshot before Configure: %v", err)
	}
	dir := t.TempDir()
	if err := c.Configure(ctx, metadata.Config{NodeID: "n1", DataDir: dir}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	ch, err := c.Watch(ctx, 0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	b, err := c.RegisterBroker(ctx, metadata.BrokerRegistration{ID: 1, IncarnationID: "i"})
	if err != nil || b.Epoch != 1 {
		t.Fatalf("RegisterBroker = %+v, %v", b, err)
	}
	if batch, ok := recv(t, ch); !ok || batch.Revision != 1 || batch.Events[0].Broker.Epoch != b.Epoch {
		t.Fatalf("watch batch %+v (open %v)", batch, ok)
	}
	if _, err := c.RegisterBroker(ctx, metadata.BrokerRegistration{ID: 1, IncarnationID: "other"}); !errors.Is(err, metadata.ErrDuplicateBroker) {
		t.Fatalf("RegisterBroker duplicate: %v", err)
	}
	if _, err := c.Watch(ctx, -1); !errors.Is(err, metadata.ErrCompacted) {
		t.Fatalf("Watch(-1): %v", err)
	}

	p.pc.Kill()
	if !fileExists(filepath.Join(dir, closeMarker)) {
		t.Fatal("the plugin exited without closing its backend")
	}
	got := waitClosed(t, ch)
	if len(got) != 1 || !errors.Is(got[0].Err, metadata.ErrUnavailable) {
		t.Fatalf("watch after the plugin ended: %+v, want one ErrUnavailable batch", got)
	}
	if _, err := c.Snapshot(ctx); !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("Snapshot after the plugin ended: %v", err)
	}
	// The plugin's hclog JSON lines reached the host's logger.
	if logs := p.logs.String(); !strings.Contains(logs, "plugin address") {
		t.Fatalf("host log has no line from the plugin:\n%s", logs)
	}
	// The backend's slog line (plugins.Logger) arrived as a structured
	// entry: message, level and attribute, not a raw JSON string.
	waitFor(t, "the backend's slog line", func() bool {
		logs := p.logs.String()
		return strings.Contains(logs, "[INFO]") && strings.Contains(logs, "test backend configured") &&
			strings.Contains(logs, "node=n1") && !strings.Contains(logs, `"@message"`)
	})
}

// TestServeSIGTERM: SIGTERM stops the plugin gracefully: the backend is
// closed and the plugin logs why, through the host's logger.
func TestServeSIGTERM(t *testing.T) {
	p := startTestPlugin(t)
	ctx := testCtx(t)
	dir := t.TempDir()
	if err := p.client.Configure(ctx, metadata.Config{NodeID: "n1", DataDir: dir}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the plugin to exit", p.pc.Exited)
	if !fileExists(filepath.Join(dir, closeMarker)) {
		t.Fatal("the plugin exited on SIGTERM without closing its backend")
	}
	waitFor(t, "the plugin's SIGTERM log line", func() bool { return strings.Contains(p.logs.String(), "received SIGTERM") })
	if _, err := p.client.Snapshot(ctx); !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("Snapshot after SIGTERM: %v", err)
	}
}

// TestServeKilled: a plugin process killed abruptly fails calls and open
// watches with ErrUnavailable.
func TestServeKilled(t *testing.T) {
	p := startTestPlugin(t)
	ctx := testCtx(t)
	dir := t.TempDir()
	if err := p.client.Configure(ctx, metadata.Config{NodeID: "n1", DataDir: dir}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	ch, err := p.client.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	got := waitClosed(t, ch)
	if len(got) != 1 || !errors.Is(got[0].Err, metadata.ErrUnavailable) {
		t.Fatalf("watch after SIGKILL: %+v, want one ErrUnavailable batch", got)
	}
	if _, err := p.client.AllocateProducerIDs(ctx, 1); !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("AllocateProducerIDs after SIGKILL: %v", err)
	}
	if fileExists(filepath.Join(dir, closeMarker)) {
		t.Fatal("a killed plugin cannot have closed its backend")
	}
	waitFor(t, "go-plugin to see the exit", p.pc.Exited)
}
