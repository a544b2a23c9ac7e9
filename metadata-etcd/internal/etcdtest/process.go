package etcdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// StopTimeout bounds the graceful stop (SIGTERM) of a process member;
// past it the member is killed.
const StopTimeout = 10 * time.Second

// BuildServer builds the etcd server main in dir, a Go module of its own
// outside the workspace (metadata-etcd/internal/etcdservers/etcd-3.x), with
// GOWORK=off into t's temporary directory, and returns the binary's path.
// The compiled packages come from go's build cache, so a rebuild with
// nothing changed is mostly the link (a few seconds); a binary of its own
// per test means no other test run on the machine overwrites it while
// its members run.
func BuildServer(t TB, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "etcd")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("etcdtest: building the etcd server of %s: %v\n%s", dir, err, out)
	}
	t.Logf("etcdtest: etcd server of %s built in %v: %s", dir, time.Since(start).Round(time.Millisecond), bin)
	return bin
}

// processArgs are the etcd flags of a process member: the settings Start
// gave its embed.Config.
func processArgs(cfg *embed.Config) []string {
	urls := func(us []url.URL) string {
		var s []string
		for _, u := range us {
			s = append(s, u.String())
		}
		return strings.Join(s, ",")
	}
	args := []string{
		"--name", cfg.Name,
		"--data-dir", cfg.Dir,
		"--listen-client-urls", urls(cfg.ListenClientUrls),
		"--advertise-client-urls", urls(cfg.AdvertiseClientUrls),
		"--listen-peer-urls", urls(cfg.ListenPeerUrls),
		"--initial-advertise-peer-urls", urls(cfg.AdvertisePeerUrls),
		"--initial-cluster", cfg.InitialCluster,
		"--initial-cluster-token", cfg.InitialClusterToken,
		"--initial-cluster-state", cfg.ClusterState,
		"--heartbeat-interval", strconv.FormatUint(uint64(cfg.TickMs), 10),
		"--election-timeout", strconv.FormatUint(uint64(cfg.ElectionMs), 10),
		"--log-level", "warn",
	}
	if cfg.UnsafeNoFsync {
		args = append(args, "--unsafe-no-fsync")
	}
	return args
}

// process is one run of a member as a process of an etcd binary.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited
	err    error         // Wait's result, set before exited closes
}

// startProcess runs member m as a process of bin until the process listens
// on its client port and, if wait, until it answers /health (which needs
// a quorum), both within ReadyTimeout.
func startProcess(bin string, m *Member, wait bool) (*process, error) {
	deadline := time.Now().Add(ReadyTimeout)
	// A reserved port may still be in TIME_WAIT or taken for a moment.
	for attempt := 0; ; attempt++ {
		from := m.out.Len()
		p, err := launch(bin, m.args, m.out)
		if err != nil {
			return nil, fmt.Errorf("start member %s: %w", m.Name, err)
		}
		err = p.await(deadline, func() bool { return listensOn(p.cmd.Process.Pid, m.clientAddr) })
		if err == nil && wait {
			err = p.await(deadline, func() bool { return healthy(m.clientAddr) })
		}
		if err == nil {
			return p, nil
		}
		p.halt(true)
		output := m.out.From(from)
		if attempt == 20 || !strings.Contains(output, "address already in use") || time.Now().After(deadline) {
			return nil, fmt.Errorf("member %s (%s): %w; its output:\n%s", m.Name, bin, err, output)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func launch(bin string, args []string, out io.Writer) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// await polls ok until it holds, the process exits or the deadline
// passes.
func (p *process) await(deadline time.Time, ok func() bool) error {
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("exited: %v", p.err)
		default:
		}
		if ok() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v", ReadyTimeout)
		}
		select {
		case <-p.exited:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// exitErr is nil while the process runs, else how it ended.
func (p *process) exitErr() error {
	select {
	case <-p.exited:
		if p.err == nil {
			return errors.New("exited with status 0")
		}
		return p.err
	default:
		return nil
	}
}

// halt kills the process (hard) or stops it with SIGTERM, killing it if
// it has not exited within StopTimeout, and waits until it has exited.
func (p *process) halt(hard bool) {
	if !hard {
		p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited already
		select {
		case <-p.exited:
			return
		case <-time.After(StopTimeout):
		}
	}
	p.cmd.Process.Kill() //nolint:errcheck // it may have exited already
	<-p.exited
}

// healthy reports whether the member at addr answers /health with
// health true: it has a leader and serves a quorum read.
func healthy(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/health", nil)
	if err != nil {
		return false
	}
	resp, err := healthClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return err == nil && resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"health":"true"`))
}

// healthClient keeps no idle connections, which would outlive the member.
var healthClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// exitedUnexpectedly notes that member m's process ended while it should
// have run; the next Heal, or the cluster's cleanup, fails the test.
func (c *Cluster) exitedUnexpectedly(m *Member, err error) {
	c.exitsMu.Lock()
	defer c.exitsMu.Unlock()
	c.exits = append(c.exits, fmt.Sprintf("member %s exited unexpectedly (%v)", m.Name, err))
}

// unexpectedExits notes every running member whose process has ended
// (it counts as down from then on) and returns, and forgets, every
// unexpected exit noted so far.
func (c *Cluster) unexpectedExits() []string {
	for _, m := range c.members {
		m.mu.Lock()
		if m.proc != nil {
			if err := m.proc.exitErr(); err != nil {
				m.proc = nil
				m.proxy.up(false)
				c.exitedUnexpectedly(m, err)
			}
		}
		m.mu.Unlock()
	}
	c.exitsMu.Lock()
	defer c.exitsMu.Unlock()
	exits := c.exits
	c.exits = nil
	return exits
}

// status is member i's own view (its client port, not the proxy).
func (c *Cluster) status(ctx context.Context, i int) (*clientv3.StatusResponse, error) {
	addr := c.members[i].clientAddr
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	return cli.Status(ctx, addr)
}

// processLeader is Leader of process members: the running member whose
// status names itself leader.
func (c *Cluster) processLeader() int {
	for i := range c.members {
		if !c.Running(i) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := c.status(ctx, i)
		cancel()
		if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
			return i
		}
	}
	return -1
}

// moveProcessLeader is MoveLeader of process members, from leader l.
func (c *Cluster) moveProcessLeader(ctx context.Context, l, to int) error {
	if !c.Running(to) {
		return errors.New("etcdtest: member not running")
	}
	st, err := c.status(ctx, to)
	if err != nil {
		return fmt.Errorf("etcdtest: status of member %d: %w", to, err)
	}
	addr := c.members[l].clientAddr
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	_, err = cli.MoveLeader(ctx, st.Header.MemberId)
	return err
}

// syncBuffer collects a member's output across its runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// From is the output from offset off on.
func (b *syncBuffer) From(off int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf.Bytes()[off:])
}

func (b *syncBuffer) String() string { return b.From(0) }
