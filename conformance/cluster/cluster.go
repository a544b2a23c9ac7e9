package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/conformance/ports"
)

// Defaults of Config.
const (
	DefaultSessionTimeout = 3 * time.Second
	DefaultStartTimeout   = 60 * time.Second
)

// Config says which chronik and which backend to test.
type Config struct {
	// Binary is the chronik executable (required).
	Binary string
	// Backend is the --metadata value: "raft", "etcd", a plugin name or a
	// plugin path. Default "raft".
	Backend string
	// EtcdEndpoints (host:port,...) is required with Backend "etcd"; the
	// suite uses a fresh key prefix of its own unless EtcdPrefix is set.
	EtcdEndpoints string
	EtcdPrefix    string
	// Args are extra flags given to every broker (backend settings such as
	// --metadata.set key=value).
	Args []string
	// SessionTimeout is the broker session timeout
	// (--metadata.session-timeout). Default DefaultSessionTimeout.
	SessionTimeout time.Duration
	// Dir is where the nodes' directories are made; "" means a new
	// temporary directory, removed by Close.
	Dir string
	// Perf adds the measurements (kill-backend-leader, topic-latency).
	Perf bool
	// Match selects checks by name (nil: all). Later checks rely on the
	// topics and the killed broker of earlier ones.
	Match func(name string) bool
	// ListTimeout is how long the brokers get to be listed by every node
	// after starting (brokers-listed, full-restart). Default 30 s.
	ListTimeout time.Duration
	// Logf receives progress and measurements; nil discards them.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() (Config, error) {
	if c.Binary == "" {
		return c, errors.New("cluster: no chronik binary given")
	}
	abs, err := filepath.Abs(c.Binary)
	if err != nil {
		return c, fmt.Errorf("cluster: %w", err)
	}
	c.Binary = abs
	if st, err := os.Stat(c.Binary); err != nil || st.IsDir() {
		return c, fmt.Errorf("cluster: chronik binary %s: not a file (%v)", c.Binary, err)
	}
	if c.Backend == "" {
		c.Backend = "raft"
	}
	if strings.ContainsRune(c.Backend, filepath.Separator) {
		if c.Backend, err = filepath.Abs(c.Backend); err != nil {
			return c, fmt.Errorf("cluster: %w", err)
		}
	}
	if c.Backend == "etcd" {
		if c.EtcdEndpoints == "" {
			return c, errors.New("cluster: the etcd backend needs EtcdEndpoints")
		}
		if c.EtcdPrefix == "" {
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			c.EtcdPrefix = "/chronik-cluster-conformance-" + hex.EncodeToString(b) + "/"
		}
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.ListTimeout <= 0 {
		c.ListTimeout = 30 * time.Second
	}
	if c.Match == nil {
		c.Match = func(string) bool { return true }
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c, nil
}

// Cluster is three chronik broker processes started by the suite. Its
// methods are for the suite's single goroutine; the processes' output is
// collected concurrently.
type Cluster struct {
	cfg    Config
	dir    string
	ownDir bool
	Nodes  []*Node
	// ListedAfter is, per broker, the time from its process start to
	// being listed in every node's Metadata, measured by Start.
	ListedAfter map[int32]time.Duration
}

// Node is one chronik broker process with fixed ports and data dir, so that
// it can be killed and started again as the same broker.
type Node struct {
	ID    int32
	Dir   string // data dir; node.log is beside it
	Kafka string // listen and advertised Kafka address
	HTTP  string // /readyz, /v1/cluster
	args  []string

	cmd     *exec.Cmd
	done    chan struct{}
	started time.Time
	logFile *os.File
	tail    *tailBuffer
	meta    *kgo.Client
}

// Start makes the nodes' directories and starts 3 brokers; it waits until
// each answers /readyz. On error every started process is killed.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, dir: cfg.Dir}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "chronik-cluster-conformance-"); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		c.ownDir = true
	}
	var peers []string
	metaAddrs := make([]string, 3)
	// Ports outside the ephemeral range (ports.Free): one from :0 may be
	// taken by any outgoing connection before the broker binds it.
	addrs, err := ports.Free(9)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	for i := range 3 {
		n := &Node{ID: int32(i + 1), Dir: filepath.Join(c.dir, fmt.Sprintf("node%d", i+1))}
		n.Kafka, n.HTTP, metaAddrs[i] = addrs[3*i], addrs[3*i+1], addrs[3*i+2]
		peers = append(peers, fmt.Sprintf("%d@%s", n.ID, metaAddrs[i]))
		c.Nodes = append(c.Nodes, n)
	}
	for i, n := range c.Nodes {
		n.args = []string{"--broker-id", fmt.Sprint(n.ID), "--data-dir", n.Dir, "--listen", n.Kafka,
			"--http", n.HTTP, "--metadata", cfg.Backend, "--metadata.session-timeout", cfg.SessionTimeout.String(),
			"--metadata.address", metaAddrs[i], "--metadata.peers", strings.Join(peers, ",")}
		if cfg.Backend == "etcd" {
			n.args = append(n.args, "--metadata.etcd.endpoints", cfg.EtcdEndpoints, "--metadata.etcd.prefix", cfg.EtcdPrefix)
		}
		n.args = append(n.args, cfg.Args...)
		if err := c.StartNode(n); err != nil {
			c.Close()
			return nil, err
		}
	}
	for _, n := range c.Nodes {
		if err := c.WaitReady(ctx, n); err != nil {
			c.Close()
			return nil, err
		}
	}
	// Not every broker listed everywhere is what brokers-listed reports.
	if err := c.measureListed(ctx); err != nil {
		cfg.Logf("%v", err)
	}
	return c, nil
}

// measureListed polls every node's Metadata until each broker is listed by
// all of them, for up to ListTimeout, and records when that happened for
// each broker.
func (c *Cluster) measureListed(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ListTimeout)
	defer cancel()
	c.ListedAfter = map[int32]time.Duration{}
	return poll(ctx, 10*time.Millisecond, func() error {
		count := map[int32]int{}
		for _, n := range c.Nodes {
			if !n.Running() {
				return errors.Join(fmt.Errorf("broker %d exited; its last lines:\n%s", n.ID, n.lastLines(8)), errStop)
			}
			m, err := c.Metadata(ctx, n)
			if err != nil {
				return err
			}
			for _, b := range m.Brokers {
				count[b.NodeID]++
			}
		}
		for _, n := range c.Nodes {
			if _, done := c.ListedAfter[n.ID]; !done && count[n.ID] == len(c.Nodes) {
				c.ListedAfter[n.ID] = time.Since(n.started)
			}
		}
		if len(c.ListedAfter) < len(c.Nodes) {
			return fmt.Errorf("listed everywhere so far: %v", c.ListedAfter)
		}
		return nil
	}, "every broker listed by every node")
}

// Close kills every process still running and removes the directory the
// suite made. It is idempotent.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		_ = c.Kill(n)
		if n.meta != nil {
			n.meta.Close()
			n.meta = nil
		}
	}
	if c.ownDir {
		_ = os.RemoveAll(c.dir)
		c.ownDir = false
	}
}

// StartNode starts n's process (again) with its flags, ports and data dir.
func (c *Cluster) StartNode(n *Node) error {
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	lf, err := os.OpenFile(n.Dir+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if n.tail == nil {
		n.tail = &tailBuffer{max: 64 << 10}
	}
	if n.meta != nil { // its connections were to the previous process
		n.meta.Close()
		n.meta = nil
	}
	fmt.Fprintf(lf, "=== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), c.cfg.Binary, strings.Join(n.args, " "))
	cmd := exec.Command(c.cfg.Binary, n.args...)
	cmd.Dir = n.Dir
	cmd.Stdout = io.MultiWriter(lf, n.tail)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("cluster: starting broker %d: %w", n.ID, err)
	}
	n.cmd, n.logFile, n.started = cmd, lf, time.Now()
	n.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = lf.Close()
		close(n.done)
	}()
	return nil
}

// lastLines returns the last k lines the broker process wrote ("" before
// it started).
func (n *Node) lastLines(k int) string {
	if n.tail == nil {
		return ""
	}
	return n.tail.lastLines(k)
}

// Running reports whether n's process is running.
func (n *Node) Running() bool {
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL to n's process and waits until it is gone.
func (c *Cluster) Kill(n *Node) error {
	if !n.Running() {
		return nil
	}
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("cluster: killing broker %d: %w", n.ID, err)
	}
	<-n.done
	return nil
}

// Stop sends SIGTERM and waits up to 30 s for a clean exit.
func (c *Cluster) Stop(n *Node) error {
	if !n.Running() {
		return nil
	}
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("cluster: stopping broker %d: %w", n.ID, err)
	}
	select {
	case <-n.done:
		if code := n.cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("cluster: broker %d exited with status %d after SIGTERM", n.ID, code)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = c.Kill(n)
		return fmt.Errorf("cluster: broker %d did not exit within 30s of SIGTERM", n.ID)
	}
}

// WaitReady polls n's /readyz until it answers 200.
func (c *Cluster) WaitReady(ctx context.Context, n *Node) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultStartTimeout)
	defer cancel()
	return poll(ctx, 50*time.Millisecond, func() error {
		if !n.Running() {
			return errors.Join(fmt.Errorf("broker %d exited; its last lines:\n%s", n.ID, n.lastLines(8)), errStop)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.HTTP+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	}, fmt.Sprintf("broker %d ready", n.ID))
}

// Logs returns the end of every node's output, for failure reports.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		if n.tail != nil {
			fmt.Fprintf(&b, "--- broker %d (%s.log), last lines:\n%s\n", n.ID, n.Dir, n.tail.lastLines(40))
		}
	}
	return b.String()
}

// Metadata asks exactly node n (not another broker it knows of) for the
// cluster's brokers and the given topics.
func (c *Cluster) Metadata(ctx context.Context, n *Node, topics ...string) (*kmsg.MetadataResponse, error) {
	if n.meta == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Kafka), kgo.RetryTimeout(time.Second))
		if err != nil {
			return nil, err
		}
		n.meta = cl
	}
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := n.meta.Broker(math.MinInt32).Request(rctx, req) // kgo numbers seed i MinInt32+i
	if err != nil {
		return nil, fmt.Errorf("metadata from broker %d: %w", n.ID, err)
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// Request sends req to exactly node n.
func (c *Cluster) Request(ctx context.Context, n *Node, req kmsg.Request) (kmsg.Response, error) {
	if _, err := c.Metadata(ctx, n); err != nil { // makes the client
		return nil, err
	}
	return n.meta.Broker(math.MinInt32).Request(ctx, req)
}

// BrokerStatus is a broker as GET /v1/cluster shows it.
type BrokerStatus struct {
	ID    int32  `json:"id"`
	State string `json:"state"`
	Epoch int64  `json:"epoch"`
}

// Status reads node n's GET /v1/cluster (its metadata image).
func (c *Cluster) Status(ctx context.Context, n *Node) (map[int32]BrokerStatus, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.HTTP+"/v1/cluster", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st struct {
		Brokers []BrokerStatus `json:"brokers"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/cluster on broker %d: %s %s", n.ID, resp.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("GET /v1/cluster on broker %d: %w", n.ID, err)
	}
	out := map[int32]BrokerStatus{}
	for _, b := range st.Brokers {
		out[b.ID] = b
	}
	return out, nil
}

// BackendLeader is the backend leader node id as node n's backend reports
// it (GET /v1/metadata), "" if none or unknown.
func (c *Cluster) BackendLeader(ctx context.Context, n *Node) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.HTTP+"/v1/metadata", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var info struct{ Leader string }
	if json.NewDecoder(resp.Body).Decode(&info) != nil {
		return ""
	}
	return info.Leader
}

// errStop ends a poll early.
var errStop = errors.New("cluster: giving up")

// poll calls f every interval until it returns nil, ctx ends or f returns
// an error wrapping errStop; the error names what and f's last error.
//
// The error reported is f's last one from before the deadline: an attempt
// cut short by the deadline itself says nothing about the state.
func poll(ctx context.Context, interval time.Duration, f func() error, what string) error {
	var last error
	for {
		err := f()
		if err == nil {
			return nil
		}
		if errors.Is(err, errStop) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not by the deadline; last: %v", what, last)
		case <-time.After(interval):
		}
	}
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent
// use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimRight(string(t.b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
