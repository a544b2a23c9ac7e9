package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fault tests of issue 8 with real chronik processes and real franz-go
// clients, on both metadata backends: every partition's leader SIGKILLed
// in turn under a paced idempotent acks=all load with a consumer group
// consuming, a follower SIGSTOPped out of every ISR and back, the whole
// cluster SIGKILLed under load and restarted, and a broker restarted with
// its partition data deleted. Each reports records produced, acknowledged,
// read back and lost (which must be 0).

const faultLagTimeMax = 3 * time.Second

// faultArgs are the broker flags of the fault tests.
func faultArgs(backend ...string) []string {
	return append([]string{"--metadata.session-timeout", replSessionTimeout.String(),
		"--replica.lag-time-max", faultLagTimeMax.String(), "--auto-leader-rebalance=false"}, backend...)
}

// bothBackends runs fn as subtests raft and etcd.
func bothBackends(t *testing.T, fn func(t *testing.T, backend ...string)) {
	t.Run("raft", func(t *testing.T) { fn(t) })
	t.Run("etcd", func(t *testing.T) {
		fn(t, "--metadata", "etcd", "--metadata.etcd.endpoints", startEtcd(t))
	})
}

// faultLoad is an idempotent acks=all producer sending one record to every
// partition every 10 ms (300 records/s over 3 partitions) until stopped.
type faultLoad struct {
	prod     *kgo.Client
	acks     *ackLog
	produced atomic.Int64
	stopCh   chan struct{}
	stopOnce sync.Once
	loop     sync.WaitGroup
	inflight sync.WaitGroup
}

// startFaultLoad starts the paced producer on topic; t.Cleanup stops it.
func startFaultLoad(ctx context.Context, t *testing.T, nodes []*clusterNode, topic, prefix string, parts int32) *faultLoad {
	t.Helper()
	prod, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddrs(nodes)...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	l := &faultLoad{prod: prod, acks: newAckLog(1), stopCh: make(chan struct{})}
	l.loop.Add(1)
	go func() {
		defer l.loop.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-l.stopCh:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for p := range parts {
				l.inflight.Add(1)
				l.produced.Add(1)
				prod.Produce(ctx, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%s-%07d", prefix, i)},
					l.acks.promise(&l.inflight))
				i++
			}
		}
	}()
	t.Cleanup(func() { l.stop(); prod.Close() })
	return l
}

// stop ends the produce loop (idempotent).
func (l *faultLoad) stop() {
	l.stopOnce.Do(func() { close(l.stopCh) })
	l.loop.Wait()
}

// finish stops the loop, flushes and waits for every promise; with strict,
// any failed record fails the test.
func (l *faultLoad) finish(ctx context.Context, t *testing.T, strict bool) {
	t.Helper()
	l.stop()
	fctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	if err := l.prod.Flush(fctx); err != nil && strict {
		t.Fatalf("flushing the producer: %v", err)
	}
	waitGroupWithin(t, &l.inflight, 40*time.Second, "producer promises")
	if n := l.acks.errs.Load(); n != 0 && strict {
		t.Fatalf("%d of %d records failed", n, l.produced.Load())
	}
}

// waitAcks waits until n more records than now are acknowledged.
func (l *faultLoad) waitAcks(t *testing.T, n int64, within time.Duration, what string) {
	t.Helper()
	want := l.acks.n.Load() + n
	eventually(t, within, what, func() (bool, string) {
		return l.acks.n.Load() >= want, fmt.Sprintf("%d acknowledged, want %d; %d failed", l.acks.n.Load(), want, l.acks.errs.Load())
	})
}

// verifyAcked reads every partition of topic from addrs up to its end
// offset and checks every acknowledged record is there once, in order. It
// logs produced/acknowledged/read/lost and returns the end offsets.
func verifyAcked(ctx context.Context, t *testing.T, what string, addrs []string, topic string, produced int64, acked []ackedRecord) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var end map[int32]int64
	eventually(t, 30*time.Second, "ListEndOffsets", func() (bool, string) {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ends, err := kadm.NewClient(cl).ListEndOffsets(lctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return false, err.Error()
		}
		end = map[int32]int64{}
		ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
		return true, ""
	})
	stored := readPartitions(ctx, t, addrs[0], topic, end)
	read, lost := 0, 0
	for part, recs := range stored {
		read += len(recs)
		// In the order produced: values are PREFIX-SEQ, SEQ rising per
		// producer, one partition's records of one producer in SEQ order.
		last := map[string]string{}
		for _, r := range recs {
			prefix, seq, _ := strings.Cut(string(r.Value), "-")
			if prev, ok := last[prefix]; ok && seq <= prev {
				t.Fatalf("%s/%d offset %d: %q after %s-%s: out of the produced order", topic, part, r.Offset, r.Value, prefix, prev)
			}
			last[prefix] = seq
		}
	}
	for _, a := range acked {
		recs := stored[a.partition]
		if a.offset >= int64(len(recs)) || string(recs[a.offset].Value) != a.value {
			lost++
		}
	}
	t.Logf("%s: %d records produced, %d acknowledged, %d read back (end offsets %v), %d acknowledged lost",
		what, produced, len(acked), read, end, lost)
	checkAcked(t, topic, acked, stored, end)
	if lost != 0 {
		t.Fatalf("%s: %d acknowledged records lost", what, lost)
	}
	return end
}

// bounceLeader SIGKILLs the current leader of partition p, waits until
// every survivor shows every partition led by a survivor, restarts it on
// its data dir and waits until every node shows every ISR full.
func bounceLeader(ctx context.Context, t *testing.T, nodes []*clusterNode, topic string, parts int, p int32) {
	t.Helper()
	cur := partitionsOn(ctx, t, nodes[0], topic, parts, 30*time.Second, "full ISRs before a kill", fullISR)
	victim := nodeByID(t, nodes, cur[p].Leader)
	victim.kill(t)
	killed := time.Now()
	for _, nd := range without(nodes, victim) {
		partitionsOn(ctx, t, nd, topic, parts, replSessionTimeout+replFailoverMargin+5*time.Second-time.Since(killed),
			fmt.Sprintf("every partition led by a survivor after broker %d's SIGKILL", victim.id),
			func(pm kmsg.MetadataResponseTopicPartition) (bool, string) {
				return pm.Leader >= 1 && pm.Leader != victim.id, "no live leader"
			})
	}
	failover := time.Since(killed)
	victim.start(t)
	started := time.Now()
	victim.proc.waitReady(t)
	for _, nd := range nodes {
		partitionsOn(ctx, t, nd, topic, parts, 60*time.Second-time.Since(started),
			fmt.Sprintf("broker %d back in every ISR", victim.id), fullISR)
	}
	t.Logf("partition %d: leader broker %d SIGKILLed; new leaders everywhere after %v; restarted, back in every ISR on every node after %v",
		p, victim.id, failover.Round(time.Millisecond), time.Since(started).Round(time.Millisecond))
}

// TestFaultKillEveryLeader: under a paced idempotent acks=all load with a
// consumer group consuming and committing, the leader of partition 0, then
// of 1, then of 2 is SIGKILLed, replaced, restarted and back in every ISR.
// Every acknowledged record is read once in order per partition, the
// group's committed offsets (sampled every 100 ms) never go backwards, and
// the group ends having consumed everything.
func TestFaultKillEveryLeader(t *testing.T) { bothBackends(t, testFaultKillEveryLeader) }

// groupConsumer is one group member consuming with manual commits after
// processing; it records what it consumed per partition.
type groupConsumer struct {
	mu          sync.Mutex
	next        map[int32]int64
	seen        map[string]bool
	redelivered int
	gaps        []string
	commitErrs  int
	fetchErrs   int
}

func (g *groupConsumer) snapshot() (map[int32]int64, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.next), len(g.seen)
}

func testFaultKillEveryLeader(t *testing.T, backend ...string) {
	const (
		topic, group = "fault-kill", "fault-group"
		parts        = 3
	)
	nodes := startRaftCluster(t, 3, faultArgs(backend...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Second)
	defer cancel()
	createReplicated(ctx, t, nodes, topic, parts)
	load := startFaultLoad(ctx, t, nodes, topic, "k", parts)

	// The consumer group member.
	gc := &groupConsumer{next: map[int32]int64{}, seen: map[string]bool{}}
	cons, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddrs(nodes)...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer func() { ccancel(); bg.Wait(); cons.Close() }()
	bg.Add(1)
	go func() {
		defer bg.Done()
		for cctx.Err() == nil {
			fs := cons.PollFetches(cctx)
			gc.mu.Lock()
			fs.EachError(func(string, int32, error) { gc.fetchErrs++ })
			fs.EachRecord(func(r *kgo.Record) {
				switch n := gc.next[r.Partition]; {
				case r.Offset > n:
					gc.gaps = append(gc.gaps, fmt.Sprintf("partition %d: offset %d after %d", r.Partition, r.Offset, n-1))
				case r.Offset < n:
					gc.redelivered++
				}
				gc.next[r.Partition] = r.Offset + 1
				gc.seen[string(r.Value)] = true
			})
			gc.mu.Unlock()
			cmctx, cancel := context.WithTimeout(cctx, 10*time.Second)
			if err := cons.CommitUncommittedOffsets(cmctx); err != nil && cctx.Err() == nil {
				gc.mu.Lock()
				gc.commitErrs++
				gc.mu.Unlock()
			}
			cancel()
		}
	}()

	// The committed offsets, sampled every 100 ms.
	admCl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddrs(nodes)...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	var (
		smu        sync.Mutex
		committed  = map[int32]int64{}
		backwards  []string
		samples    int
		sampleErrs int
	)
	bg.Add(1)
	go func() {
		defer bg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-cctx.Done():
				return
			case <-tick.C:
			}
			fctx, cancel := context.WithTimeout(cctx, 3*time.Second)
			os, err := adm.FetchOffsets(fctx, group)
			cancel()
			smu.Lock()
			if err != nil {
				sampleErrs++
			} else {
				samples++
				os.Each(func(o kadm.OffsetResponse) {
					if o.Topic != topic || o.Err != nil {
						return
					}
					if prev, ok := committed[o.Partition]; ok && o.At < prev {
						backwards = append(backwards, fmt.Sprintf("partition %d: %d after %d", o.Partition, o.At, prev))
					}
					committed[o.Partition] = max(committed[o.Partition], o.At)
				})
			}
			smu.Unlock()
		}
	}()

	load.waitAcks(t, 600, 60*time.Second, "600 acknowledgements before the first kill")
	for p := range int32(parts) {
		bounceLeader(ctx, t, nodes, topic, parts, p)
		load.waitAcks(t, 300, 60*time.Second, fmt.Sprintf("300 acknowledgements after bouncing partition %d's leader", p))
	}
	load.finish(ctx, t, true)
	consumedBefore, _ := gc.snapshot()
	t.Logf("the group had consumed up to %v when the producer finished", consumedBefore)
	end := verifyAcked(ctx, t, "kill every leader", kafkaAddrs(nodes), topic, load.produced.Load(), load.acks.records())

	// The group catches up with everything and commits it.
	eventually(t, 60*time.Second, "the group consumed and committed every record", func() (bool, string) {
		next, _ := gc.snapshot()
		smu.Lock()
		defer smu.Unlock()
		for p, e := range end {
			if next[p] != e || committed[p] != e {
				return false, fmt.Sprintf("consumed up to %v, committed %v, end offsets %v", next, committed, end)
			}
		}
		return true, ""
	})
	ccancel()
	bg.Wait()
	gc.mu.Lock()
	defer gc.mu.Unlock()
	smu.Lock()
	defer smu.Unlock()
	missing := 0
	for _, a := range load.acks.records() {
		if !gc.seen[a.value] {
			missing++
		}
	}
	t.Logf("consumer group: %d distinct records consumed (%d redelivered after a rewind), %d acknowledged not consumed, %d commit errors, %d fetch errors; committed offsets %v sampled %d times (%d sample errors), %d went backwards",
		len(gc.seen), gc.redelivered, missing, gc.commitErrs, gc.fetchErrs, committed, samples, sampleErrs, len(backwards))
	if len(gc.gaps) > 0 {
		t.Fatalf("the group member skipped offsets: %v", gc.gaps)
	}
	if missing != 0 {
		t.Fatalf("%d acknowledged records never consumed by the group", missing)
	}
	if len(backwards) > 0 {
		t.Fatalf("committed offsets went backwards: %v", backwards)
	}
	if samples == 0 {
		t.Fatal("no committed-offset sample succeeded")
	}
}

// createAssigned creates topic with min.insync.replicas=2 and the given
// replica assignment (partition i gets assignment[i]), and waits until
// every node shows every partition led with its full ISR.
func createAssigned(ctx context.Context, t *testing.T, nodes []*clusterNode, topic string, assignment [][]int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddrs(nodes)...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 20000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p, rs := range assignment {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(p), rs
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "min.insync.replicas", kmsg.StringPtr("2")
	rt.Configs = append(rt.Configs, c)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("CreateTopics %s: %v", topic, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("CreateTopics %s: %v", topic, err)
	}
	for _, nd := range nodes {
		partitionsOn(ctx, t, nd, topic, len(assignment), 20*time.Second, "every partition led with 3 in sync", fullISR)
	}
}

// TestFaultFollowerCutOff: a broker following every partition is SIGSTOPped
// under an acks=all load until it has left every ISR (producing goes on:
// two replicas satisfy min.insync.replicas=2), then SIGCONTed; it rejoins
// every ISR and every acknowledged record is readable.
func TestFaultFollowerCutOff(t *testing.T) { bothBackends(t, testFaultFollowerCutOff) }

func testFaultFollowerCutOff(t *testing.T, backend ...string) {
	const topic = "fault-cutoff"
	nodes := startRaftCluster(t, 3, faultArgs(backend...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Second)
	defer cancel()
	// Broker 3 follows every partition and leads none.
	createAssigned(ctx, t, nodes, topic, [][]int32{{1, 2, 3}, {2, 1, 3}, {1, 2, 3}})
	victim := nodeByID(t, nodes, 3)
	others := without(nodes, victim)
	load := startFaultLoad(ctx, t, nodes, topic, "c", 3)
	load.waitAcks(t, 300, 60*time.Second, "300 acknowledgements before the stop")

	pid := victim.proc.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	continued := false
	cont := func() {
		if !continued {
			continued = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	defer cont()
	acksAtStop := load.acks.n.Load()
	for _, nd := range others {
		partitionsOn(ctx, t, nd, topic, 3, 30*time.Second, fmt.Sprintf("broker %d out of every ISR", victim.id),
			func(p kmsg.MetadataResponseTopicPartition) (bool, string) {
				return p.Leader >= 1 && p.Leader != victim.id && !slices.Contains(p.ISR, victim.id) && len(p.ISR) >= 2,
					"stopped broker still in the ISR (or fewer than 2 in sync)"
			})
	}
	outAfter := time.Since(stopped)
	load.waitAcks(t, 300, 60*time.Second, "300 acknowledgements with the follower out of the ISR")
	acksWhileOut := load.acks.n.Load() - acksAtStop
	cont()
	resumed := time.Now()
	for _, nd := range nodes {
		partitionsOn(ctx, t, nd, topic, 3, 60*time.Second-time.Since(resumed),
			fmt.Sprintf("broker %d back in every ISR", victim.id), fullISR)
	}
	t.Logf("broker %d SIGSTOPped: out of every ISR on the others after %v (lag time max %v, session timeout %v); %d acknowledged while stopped, %d failed; SIGCONTed: back in every ISR on every node after %v",
		victim.id, outAfter.Round(time.Millisecond), faultLagTimeMax, replSessionTimeout, acksWhileOut, load.acks.errs.Load(), time.Since(resumed).Round(time.Millisecond))
	load.waitAcks(t, 300, 60*time.Second, "300 acknowledgements after the rejoin")
	load.finish(ctx, t, true)
	end := verifyAcked(ctx, t, "follower cut off", kafkaAddrs(nodes), topic, load.produced.Load(), load.acks.records())
	waitLogEnds(t, nodes, topic, end)
}

// waitLogEnds waits until every node's /metrics shows end as its log end
// offsets of topic.
func waitLogEnds(t *testing.T, nodes []*clusterNode, topic string, end map[int32]int64) {
	t.Helper()
	for _, nd := range nodes {
		eventually(t, 30*time.Second, fmt.Sprintf("node %d has every partition's log end offset", nd.id), func() (bool, string) {
			m := scrapeChronik(t, nd.http)
			for p, e := range end {
				key := fmt.Sprintf(`chronik_log_end_offset{partition="%d",topic="%s"}`, p, topic)
				if got := m[key]; got != float64(e) {
					return false, fmt.Sprintf("%s = %v, want %d", key, got, e)
				}
			}
			return true, ""
		})
	}
	t.Logf("every node's chronik_log_end_offset of %s is %v", topic, end)
}

// TestFaultWholeClusterRestart: all three brokers are SIGKILLed at once
// under an acks=all load and restarted on their data dirs: every
// acknowledged record is there, partitions have leaders with full ISRs, and
// a new producer works.
func TestFaultWholeClusterRestart(t *testing.T) { bothBackends(t, testFaultWholeClusterRestart) }

func testFaultWholeClusterRestart(t *testing.T, backend ...string) {
	const (
		topic = "fault-restart"
		parts = 3
	)
	nodes := startRaftCluster(t, 3, faultArgs(backend...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Second)
	defer cancel()
	createReplicated(ctx, t, nodes, topic, parts)
	load := startFaultLoad(ctx, t, nodes, topic, "w", parts)
	load.waitAcks(t, 900, 60*time.Second, "900 acknowledgements before the kill")
	for _, nd := range nodes {
		if err := nd.proc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	for _, nd := range nodes {
		err := <-nd.proc.done
		nd.proc.done <- err
	}
	load.stop()
	acked := load.acks.records() // acknowledged before the kill
	produced := load.produced.Load()
	for _, nd := range nodes {
		nd.start(t)
	}
	restarted := time.Now()
	for _, nd := range nodes {
		nd.proc.waitReady(t)
	}
	ready := time.Since(restarted)
	for _, nd := range nodes {
		partitionsOn(ctx, t, nd, topic, parts, 60*time.Second-time.Since(restarted), "every partition led with 3 in sync after the restart", fullISR)
	}
	t.Logf("all 3 brokers SIGKILLed after %d acknowledgements (%d produced); restarted: ready after %v, every partition led with a full ISR on every node after %v",
		len(acked), produced, ready.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	// The old producer's records in flight at the kill: retried to the
	// restarted cluster or failed; either way not acknowledged before.
	load.finish(ctx, t, false)
	t.Logf("the old producer's records after the restart: %d acknowledged in all, %d failed", load.acks.n.Load(), load.acks.errs.Load())

	// A new producer works.
	fresh := startFaultLoad(ctx, t, nodes, topic, "n", parts)
	fresh.waitAcks(t, 300, 60*time.Second, "300 acknowledgements from a new producer after the restart")
	fresh.finish(ctx, t, true)
	all := append(load.acks.records(), fresh.acks.records()...)
	verifyAcked(ctx, t, "whole-cluster SIGKILL and restart", kafkaAddrs(nodes), topic,
		load.produced.Load()+fresh.produced.Load(), all)
	t.Logf("of those, %d were acknowledged before the SIGKILL of every broker", len(acked))
}

// TestFaultEmptyDataDir: a broker is stopped, its partition data (the
// kafka/ subdirectory of its data dir) deleted, and it is restarted while
// producing goes on: it is re-filled from the leaders (its log end offsets
// equal theirs) and rejoins every ISR.
func TestFaultEmptyDataDir(t *testing.T) { bothBackends(t, testFaultEmptyDataDir) }

func testFaultEmptyDataDir(t *testing.T, backend ...string) {
	const (
		topic = "fault-empty"
		parts = 3
	)
	nodes := startRaftCluster(t, 3, faultArgs(backend...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Second)
	defer cancel()
	createReplicated(ctx, t, nodes, topic, parts)
	load := startFaultLoad(ctx, t, nodes, topic, "e", parts)
	load.waitAcks(t, 900, 60*time.Second, "900 acknowledgements before the stop")
	victim := nodes[2]
	had := scrapeChronik(t, victim.http)
	victim.proc.stop(t)
	kafkaDir := filepath.Join(victim.dir, "kafka")
	if _, err := os.Stat(kafkaDir); err != nil {
		t.Fatalf("no partition data dir: %v", err)
	}
	if err := os.RemoveAll(kafkaDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(victim.dir, "metadata")); err != nil && len(backend) == 0 {
		t.Fatalf("the raft metadata dir is gone: %v", err)
	}
	load.waitAcks(t, 300, 60*time.Second, "300 acknowledgements with the broker stopped")
	victim.start(t)
	started := time.Now()
	victim.proc.waitReady(t)
	for _, nd := range nodes {
		partitionsOn(ctx, t, nd, topic, parts, 60*time.Second-time.Since(started),
			fmt.Sprintf("broker %d back in every ISR", victim.id), fullISR)
	}
	rejoined := time.Since(started)
	// The restarted broker opened every partition empty, having had data.
	for p := range int32(parts) {
		key := fmt.Sprintf(`chronik_log_end_offset{partition="%d",topic="%s"}`, p, topic)
		mm := regexp.MustCompile(`msg="partition: opened" component=partition topic=` + topic + fmt.Sprintf(` partition=%d .*log_end_offset=(\d+)`, p)).
			FindStringSubmatch(victim.proc.out.String())
		if mm == nil || mm[1] != "0" || had[key] <= 0 {
			t.Fatalf("partition %d: broker %d had log end %v before the stop and opened it on the restart with %v, want > 0 and 0", p, victim.id, had[key], mm)
		}
	}
	load.waitAcks(t, 300, 60*time.Second, "300 acknowledgements after the rejoin")
	load.finish(ctx, t, true)
	end := verifyAcked(ctx, t, "empty data dir", kafkaAddrs(nodes), topic, load.produced.Load(), load.acks.records())
	waitLogEnds(t, nodes, topic, end)
	t.Logf("broker %d restarted with an empty kafka/ dir: back in every ISR on every node after %v, log end offsets %v", victim.id, rejoined.Round(time.Millisecond), end)
}
