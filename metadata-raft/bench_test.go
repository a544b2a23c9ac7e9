package raftmeta

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Benchmarks of a 3-node loopback cluster with the default settings. Each
// reports latency percentiles as custom metrics (ms); ns/op is the mean.
//
//	go test -run '^$' -bench . -benchtime 400x ./
//
// BenchmarkCommit: RegisterBroker and CreateTopic called on the leader and
// on a follower (which forwards), until they return (committed and applied
// on the leader).
//
// BenchmarkWatchDelivery: for changes written through a follower, the time
// from the leader applying the change (its own watch delivering it) to
// each other node's watch delivering it: per node, and for the slowest
// node of each change ("all"); back to back, and with a pause between
// changes (ns/op then includes the pause).
//
// The brokers registered are never fenced (session timeout one hour), so
// no fencing adds to the load.
//
// BenchmarkFailover: kill the leader (connections dropped, nothing handed
// over); time until a new leader is ready, and until a write through a
// survivor succeeds. The killed node is restarted between rounds.

func benchCluster(b *testing.B) *testCluster {
	b.Helper()
	c, err := startCluster(b, 3, time.Hour, nil, slog.LevelError)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// percentiles reports p50/p99/max of ds as metrics named prefix-p50-ms etc.
func percentiles(b *testing.B, prefix string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(p float64) float64 {
		return float64(ds[int(float64(len(ds)-1)*p)]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.5), prefix+"-p50-ms")
	b.ReportMetric(at(0.99), prefix+"-p99-ms")
	b.ReportMetric(at(1), prefix+"-max-ms")
}

func BenchmarkCommit(b *testing.B) {
	c := benchCluster(b)
	li, err := c.leader(10 * time.Second)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	seq := int32(0)
	for _, from := range []string{"leader", "follower"} {
		nd := c.node(li)
		if from == "follower" {
			nd = c.node(followerOf(c, li))
		}
		b.Run("RegisterBroker/from-"+from, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				seq++
				t0 := time.Now()
				if _, err := nd.RegisterBroker(ctx, testReg(seq, "inc")); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			percentiles(b, "commit", lat)
		})
		b.Run("CreateTopic/from-"+from, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				seq++
				spec := testSpec(fmt.Sprintf("t%d", seq))
				t0 := time.Now()
				if _, err := nd.CreateTopic(ctx, spec); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			percentiles(b, "commit", lat)
		})
	}
}

func BenchmarkWatchDelivery(b *testing.B) {
	b.Run("back-to-back", func(b *testing.B) { benchWatchDelivery(b, 0) })
	// With a pause between changes, followers learn each commit from the
	// leader's idle AppendEntries (raft.commit-timeout), not from the next
	// change's.
	b.Run("idle-gap-50ms", func(b *testing.B) { benchWatchDelivery(b, 50*time.Millisecond) })
}

func benchWatchDelivery(b *testing.B, gap time.Duration) {
	c := benchCluster(b)
	li, err := c.leader(10 * time.Second)
	if err != nil {
		b.Fatal(err)
	}
	writer := c.node(followerOf(c, li))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := writer.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// seen[node][revision] = delivery time
	var (
		mu   sync.Mutex
		seen = make([]map[metadata.Revision]time.Time, c.N())
		wg   sync.WaitGroup
	)
	for i := range c.N() {
		seen[i] = map[metadata.Revision]time.Time{}
		w, err := c.node(i).Watch(ctx, st.Revision)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range w {
				now := time.Now()
				mu.Lock()
				seen[i][batch.Revision] = now
				mu.Unlock()
			}
		}()
	}
	var revs []metadata.Revision
	seq := int32(0)
	for b.Loop() {
		if gap > 0 {
			time.Sleep(gap)
		}
		seq++
		br, err := writer.RegisterBroker(ctx, testReg(seq, "inc"))
		if err != nil {
			b.Fatal(err)
		}
		revs = append(revs, metadata.Revision(br.Epoch))
	}
	last := revs[len(revs)-1]
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		done := true
		for i := range c.N() {
			if _, ok := seen[i][last]; !ok {
				done = false
			}
		}
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("watches did not deliver the last change")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	var all []time.Duration
	per := make([][]time.Duration, c.N())
	for _, rev := range revs {
		t0, ok := seen[li][rev]
		if !ok {
			b.Fatalf("leader watch missed revision %d", rev)
		}
		var worst time.Duration
		for i := range c.N() {
			if i == li {
				continue
			}
			d := seen[i][rev].Sub(t0)
			per[i] = append(per[i], d)
			worst = max(worst, d)
		}
		all = append(all, worst)
	}
	percentiles(b, "all", all)
	for i := range c.N() {
		if i != li {
			role := "follower"
			if c.node(i) == writer {
				role = "writer"
			}
			percentiles(b, fmt.Sprintf("node%d-%s", i, role), per[i])
		}
	}
}

func BenchmarkFailover(b *testing.B) {
	c := benchCluster(b)
	ctx := context.Background()
	var elected, writable []time.Duration
	for b.Loop() {
		li, err := c.leader(10 * time.Second)
		if err != nil {
			b.Fatal(err)
		}
		survivor := followerOf(c, li)
		// A write first, so the cluster is settled.
		if _, err := c.node(survivor).AllocateProducerIDs(ctx, 1); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := c.Kill(li); err != nil {
			b.Fatal(err)
		}
		var el time.Duration
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.leader(10 * time.Second); err == nil {
				el = time.Since(t0)
			}
		}()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = c.node(survivor).AllocateProducerIDs(wctx, 1)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		writable = append(writable, time.Since(t0))
		wg.Wait()
		elected = append(elected, el)
		b.StopTimer()
		if err := c.Restart(li); err != nil {
			b.Fatal(err)
		}
		if err := c.waitServing(li, 20*time.Second); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	percentiles(b, "elected", elected)
	percentiles(b, "writable", writable)
}
