package etcdmeta_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	etcdmeta "github.com/chronik-go/chronik/metadata-etcd"
	"github.com/chronik-go/chronik/metadata-etcd/internal/etcdtest"
	"github.com/chronik-go/chronik/plugins"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// BenchmarkBackends measures, on 3-node clusters on loopback, side by side
// in one run:
//
//   - etcd-bare: etcd itself (3 embedded members, fsync on): a Put through
//     one member and a watch on every member (the floor for the etcd
//     backend);
//   - etcd-direct: three etcdmeta.Backend values in this process on that
//     kind of etcd;
//   - etcd-plugin: three plugin processes of this backend (the module's
//     plugin main, the same Factory the chronik binary serves);
//   - raft-plugin: three plugin processes of the Raft backend
//     (metadata-raft/internal/raftplugin, built from the workspace).
//
// Metrics (ms): commit-p50/p99, the latency of a committed change
// (AlterPartition, a compare-and-set, through the nodes in turn; a Put for
// etcd-bare); watch-p50/p99, from the start of that call to each node's
// watch delivering the change, over every (change, node); watch-all-p99,
// the same for the slowest node of each change; lag-p50/p99, from the call
// returning to each node's delivery (negative: delivered before the call
// returned); fence-p50/max, from the
// last heartbeat of a broker that stopped heartbeating to the fence being
// delivered by every node's watch (5 brokers killed together, session
// timeout 2s, so etcd leases of 2s), once the nodes have run for a while;
// fence-start, the same for brokers that stop within a second of the
// nodes' start (an etcd fencer holds off for a timeout plus one call
// attempt from the first term it sees).
//
//	go test -run '^$' -bench Backends -benchtime 300x ./
//
// Changes are made one at a time: each waits until every node delivered
// the previous one.
func BenchmarkBackends(b *testing.B) {
	etcdPlugin := buildBenchPlugin(b, "chronik-metadata-etcd", "./internal/cmd/chronik-metadata-etcd")
	raftPlugin := buildBenchPlugin(b, "chronik-metadata-raft", "github.com/chronik-go/chronik/metadata-raft/internal/raftplugin")
	const timeout = 2 * time.Second

	b.Run("etcd-bare", func(b *testing.B) {
		ec := benchEtcd(b)
		benchBare(b, ec)
	})
	b.Run("etcd-direct", func(b *testing.B) {
		ec := benchEtcd(b)
		var nodes []metadata.Backend
		for i := range 3 {
			nodes = append(nodes, newBackend(b, ec.Endpoints(), "/bench/", func(c *etcdmeta.Config) {
				c.NodeID, c.SessionTimeout, c.Logger = strconv.Itoa(i), timeout, slog.New(slog.DiscardHandler)
			}))
		}
		benchNodes(b, nodes, timeout)
	})
	b.Run("etcd-plugin", func(b *testing.B) {
		ec := benchEtcd(b)
		nodes := loadPlugins(b, etcdPlugin, timeout, func(i int) map[string]string {
			return map[string]string{etcdmeta.SettingEndpoints: strings.Join(ec.Endpoints(), ","), etcdmeta.SettingPrefix: "/bench/"}
		}, nil)
		benchNodes(b, nodes, timeout)
	})
	b.Run("raft-plugin", func(b *testing.B) {
		var peers []metadata.Peer
		for i := range 3 {
			peers = append(peers, metadata.Peer{ID: strconv.Itoa(i), Address: freeAddr(b)})
		}
		nodes := loadPlugins(b, raftPlugin, timeout, func(int) map[string]string { return nil }, peers)
		benchNodes(b, nodes, timeout)
	})
}

// benchEtcd starts 3 members with fsync on (a real disk's costs).
func benchEtcd(b *testing.B) *etcdtest.Cluster {
	return etcdtest.Start(b, etcdtest.Options{Members: 3, Configure: func(_ int, cfg *embed.Config) {
		cfg.UnsafeNoFsync = false
	}})
}

func buildBenchPlugin(b *testing.B, name, pkg string) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		b.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	return bin
}

func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// loadPlugins starts 3 plugin processes of path together (a Raft cluster
// bootstraps from all its peers) and waits until each serves a Snapshot.
func loadPlugins(b *testing.B, path string, timeout time.Duration, settings func(int) map[string]string, peers []metadata.Peer) []metadata.Backend {
	b.Helper()
	hosts := make([]*plugins.Host, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			hosts[i], errs[i] = plugins.Load(ctx, plugins.HostConfig{
				Path: path,
				Config: metadata.Config{NodeID: strconv.Itoa(i), DataDir: b.TempDir(), Peers: peers,
					SessionTimeout: timeout, Settings: settings(i)},
				MaxRestarts: -1,
			})
		})
	}
	wg.Wait()
	var nodes []metadata.Backend
	for i, h := range hosts {
		if h != nil {
			b.Cleanup(func() { h.Close() })
			nodes = append(nodes, h)
		}
		if errs[i] != nil {
			b.Fatalf("loading %s node %d: %v", path, i, errs[i])
		}
	}
	for i, n := range nodes {
		eventually(b, 30*time.Second, fmt.Sprintf("node %d serving", i), func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := n.Snapshot(ctx)
			return err
		})
	}
	return nodes
}

// arrival is one node's watch delivering one revision.
type arrival struct {
	node int
	rev  int64
	at   time.Time
}

// benchNodes runs the measurements on a cluster of nodes.
func benchNodes(b *testing.B, nodes []metadata.Backend, timeout time.Duration) {
	started := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tp, err := nodes[0].CreateTopic(ctx, spec("bench", 1))
	if err != nil {
		b.Fatal(err)
	}
	st, err := nodes[0].Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	arrivals := make(chan arrival, 1024)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i, n := range nodes {
		ch, err := n.Watch(ctx, st.Revision)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			for batch := range ch {
				select {
				case arrivals <- arrival{node: i, rev: int64(batch.Revision), at: time.Now()}:
				case <-ctx.Done():
				}
			}
		})
	}
	var commit, deliver, all, lag []time.Duration
	epoch := tp.Partitions[0].PartitionEpoch
	k := 0
	for b.Loop() {
		k++
		leader := int32(k % 3)
		t0 := time.Now()
		p, err := nodes[k%len(nodes)].AlterPartition(ctx, metadata.PartitionChange{Topic: "bench", Partition: 0,
			ExpectedPartitionEpoch: epoch, Leader: leader, ISR: []int32{leader}})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		commit = append(commit, t1.Sub(t0))
		epoch = p.PartitionEpoch
		// Changes are one at a time: the next revision every node delivers
		// is this change's.
		var ds []time.Duration
		worst := awaitAll(b, arrivals, len(nodes), t0, &ds)
		deliver = append(deliver, ds...)
		all = append(all, worst)
		for _, d := range ds {
			lag = append(lag, d-t1.Sub(t0))
		}
	}
	report(b, "commit", commit)
	report(b, "watch", deliver)
	report(b, "watch-all", all)
	report(b, "lag", lag)
	// Right after the nodes started (what ran above takes about a second),
	// and again once they have run for longer than an etcd fencer's
	// initial hold-off (a session timeout plus one call attempt from the
	// first etcd term it sees, see fencer.go): the steady state.
	report(b, "fence-start", measureFence(b, ctx, nodes, arrivals, timeout, 100))
	select {
	case <-time.After(time.Until(started.Add(2*timeout + 2*time.Second))):
	case <-ctx.Done():
	}
	report(b, "fence", measureFence(b, ctx, nodes, arrivals, timeout, 200))
}

// awaitAll waits until every node delivered one new revision and records
// each delivery's delay after t0; it returns the slowest.
func awaitAll(b *testing.B, arrivals <-chan arrival, n int, t0 time.Time, into *[]time.Duration) time.Duration {
	seen := map[int]bool{}
	var worst time.Duration
	deadline := time.After(10 * time.Second)
	for len(seen) < n {
		select {
		case a := <-arrivals:
			if seen[a.node] {
				b.Fatalf("node %d delivered two revisions for one change", a.node)
			}
			seen[a.node] = true
			d := a.at.Sub(t0)
			*into = append(*into, d)
			worst = max(worst, d)
		case <-deadline:
			b.Fatalf("only %d of %d nodes delivered a change within 10s", len(seen), n)
		}
	}
	return worst
}

// measureFence registers 5 brokers (ids from firstID), heartbeats them
// once, stops, and returns for each the time from its last heartbeat to
// every node having delivered its fence.
func measureFence(b *testing.B, ctx context.Context, nodes []metadata.Backend, arrivals <-chan arrival, timeout time.Duration, firstID int32) []time.Duration {
	const k = 5
	// The fences are the only changes from now on; drain registrations.
	last := map[int32]time.Time{}
	for i := range int32(k) {
		br, err := nodes[int(i)%len(nodes)].RegisterBroker(ctx, reg(firstID+i, "bench"))
		if err != nil {
			b.Fatal(err)
		}
		var sink []time.Duration
		awaitAll(b, arrivals, len(nodes), time.Now(), &sink)
		if _, err := nodes[int(i)%len(nodes)].Heartbeat(ctx, br.ID, br.Epoch); err != nil {
			b.Fatal(err)
		}
		last[br.ID] = time.Now()
	}
	var out []time.Duration
	counts := map[int64]int{}
	deadline := time.After(2*timeout + 10*time.Second)
	for len(out) < k {
		select {
		case a := <-arrivals:
			counts[a.rev]++
			if counts[a.rev] < len(nodes) {
				continue
			}
			// Every node delivered this fence. Fences come one per change
			// in some order; attribute each to the earliest heartbeat not
			// yet attributed (they are milliseconds apart).
			first := slices.MinFunc(keys(last), func(x, y int32) int { return last[x].Compare(last[y]) })
			out = append(out, a.at.Sub(last[first]))
			delete(last, first)
		case <-deadline:
			b.Fatalf("%d of %d fences delivered everywhere in time", len(out), k)
		}
	}
	return out
}

func keys(m map[int32]time.Time) []int32 {
	var out []int32
	for k := range m {
		out = append(out, k)
	}
	return out
}

// benchBare measures etcd alone: a Put through member k%3, watched on
// every member by its own client.
func benchBare(b *testing.B, ec *etcdtest.Cluster) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var clis []*clientv3.Client
	for i := range 3 {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ec.DirectEndpoints()[i]}, Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cli.Close() })
		clis = append(clis, cli)
	}
	arrivals := make(chan arrival, 1024)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i, cli := range clis {
		wch := cli.Watch(clientv3.WithRequireLeader(ctx), "/bare/", clientv3.WithPrefix())
		wg.Go(func() {
			for resp := range wch {
				for _, ev := range resp.Events {
					select {
					case arrivals <- arrival{node: i, rev: ev.Kv.ModRevision, at: time.Now()}:
					case <-ctx.Done():
					}
				}
			}
		})
	}
	// Let the watches be established before measuring.
	if _, err := clis[0].Put(ctx, "/bare/warmup", "x"); err != nil {
		b.Fatal(err)
	}
	var sink []time.Duration
	awaitAll(b, arrivals, 3, time.Now(), &sink)
	var commit, deliver, all []time.Duration
	k := 0
	for b.Loop() {
		k++
		t0 := time.Now()
		if _, err := clis[k%3].Put(ctx, "/bare/key", strconv.Itoa(k)); err != nil {
			b.Fatal(err)
		}
		commit = append(commit, time.Since(t0))
		all = append(all, awaitAll(b, arrivals, 3, t0, &deliver))
	}
	report(b, "commit", commit)
	report(b, "watch", deliver)
	report(b, "watch-all", all)
}

// report adds p50, p99 and max of ds (ms) to b's metrics.
func report(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(p float64) float64 {
		return float64(ds[int(float64(len(ds)-1)*p)]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.5), name+"-p50-ms")
	b.ReportMetric(at(0.99), name+"-p99-ms")
	b.ReportMetric(at(1), name+"-max-ms")
}
