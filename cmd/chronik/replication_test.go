package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Replication fault tests with real chronik processes (issue 8): a broker
// is SIGKILLed under an idempotent acks=all load and nothing acknowledged
// may be lost; the killed broker comes back, truncates and catches up; a
// group coordinator dies and its committed offsets survive on the new one.

const (
	replSessionTimeout = 3 * time.Second
	replLagTimeMax     = 5 * time.Second
	// replFailoverMargin is added to the session timeout for a failover
	// to show on every survivor: fencing, the backend's AlterPartition and
	// the watch reaching every node, on a loaded 2-core machine.
	replFailoverMargin = 7 * time.Second
)

// replicationArgs are the broker flags of the replication tests: short
// session and lag timeouts, no automatic leader rebalancing (the tests move
// leadership back themselves).
func replicationArgs(backend ...string) []string {
	return append([]string{"--metadata.session-timeout", replSessionTimeout.String(),
		"--replica.lag-time-max", replLagTimeMax.String(), "--auto-leader-rebalance=false"}, backend...)
}

// kafkaAddrs returns the Kafka addresses of nodes.
func kafkaAddrs(nodes []*clusterNode) []string {
	var out []string
	for _, nd := range nodes {
		out = append(out, nd.kafka)
	}
	return out
}

// without returns nodes less victim.
func without(nodes []*clusterNode, victim *clusterNode) []*clusterNode {
	return slices.DeleteFunc(slices.Clone(nodes), func(nd *clusterNode) bool { return nd == victim })
}

// nodeByID returns the node with broker id id.
func nodeByID(t *testing.T, nodes []*clusterNode, id int32) *clusterNode {
	t.Helper()
	for _, nd := range nodes {
		if nd.id == id {
			return nd
		}
	}
	t.Fatalf("no broker %d", id)
	return nil
}

// partitionsOn polls node nd's own Metadata for topic until it lists parts
// partitions without error and ok holds for every one of them; it returns
// the last answer's partitions by number.
func partitionsOn(ctx context.Context, t *testing.T, nd *clusterNode, topic string, parts int, within time.Duration,
	what string, ok func(p kmsg.MetadataResponseTopicPartition) (bool, string)) map[int32]kmsg.MetadataResponseTopicPartition {
	t.Helper()
	var out map[int32]kmsg.MetadataResponseTopicPartition
	eventually(t, within, fmt.Sprintf("node %d: %s", nd.id, what), func() (bool, string) {
		m, err := nd.metadataOf(ctx, t, topic)
		if err != nil {
			return false, err.Error()
		}
		if len(m.Topics) != 1 || len(m.Topics[0].Partitions) != parts {
			return false, fmt.Sprintf("topics %+v", m.Topics)
		}
		out = map[int32]kmsg.MetadataResponseTopicPartition{}
		for _, p := range m.Topics[0].Partitions {
			if p.ErrorCode != 0 {
				return false, fmt.Sprintf("partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
			}
			if good, state := ok(p); !good {
				return false, fmt.Sprintf("partition %d (leader %d epoch %d replicas %v isr %v): %s",
					p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, state)
			}
			out[p.Partition] = p
		}
		return true, ""
	})
	return out
}

// fullISR holds when the partition has a leader and all its replicas are in
// sync.
func fullISR(p kmsg.MetadataResponseTopicPartition) (bool, string) {
	a, b := slices.Clone(p.Replicas), slices.Clone(p.ISR)
	slices.Sort(a)
	slices.Sort(b)
	return p.Leader >= 0 && len(a) > 0 && slices.Equal(a, b), "ISR is not every replica"
}

// createReplicated creates topic with parts partitions, replication factor
// 3 and min.insync.replicas=2, and waits until every node shows every
// partition led with its full ISR.
func createReplicated(ctx context.Context, t *testing.T, nodes []*clusterNode, topic string, parts int32) map[int32]kmsg.MetadataResponseTopicPartition {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddrs(nodes)...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic %s: %v / %v", topic, err, resp.Err)
	}
	var out map[int32]kmsg.MetadataResponseTopicPartition
	for _, nd := range nodes {
		out = partitionsOn(ctx, t, nd, topic, int(parts), 20*time.Second, "every partition led with 3 in sync", fullISR)
	}
	return out
}

// TestReplicationKillLeader runs the kill-the-leader scenario on both
// metadata backends.
func TestReplicationKillLeader(t *testing.T) {
	t.Run("raft", func(t *testing.T) { testKillLeader(t) })
	t.Run("etcd", func(t *testing.T) {
		testKillLeader(t, "--metadata", "etcd", "--metadata.etcd.endpoints", startEtcd(t))
	})
}

// testKillLeader: three brokers, a topic with 3 partitions, replication
// factor 3 and min.insync.replicas=2, an idempotent acks=all producer in the
// background. The broker leading partition 0 is SIGKILLed mid-load, its
// followers briefly SIGSTOPped just before so that it likely dies with an
// unreplicated tail: within
// the session timeout plus a margin every partition has a live leader on
// every survivor's Metadata, the producer goes on without a failed record,
// and afterwards every acknowledged record is read from the survivors at its
// acknowledged offset with its value, once, with dense offsets. The killed
// broker, restarted on its data dir, is listed with a higher epoch, is back
// in every partition's ISR, has the leader's log end offset on every
// partition, and once it leads its preferred partitions again (ElectLeaders
// PREFERRED) serves exactly the records the survivors served: the tail it
// had past the new leader's epoch start was cut (its truncation logged).
func testKillLeader(t *testing.T, backend ...string) {
	const (
		topic     = "replicated"
		parts     = 3
		killAfter = 1000 // acknowledgements before the kill
		moreAfter = 1000 // acknowledgements after the new leaders, before stopping
	)
	nodes := startRaftCluster(t, 3, replicationArgs(backend...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	initial := createReplicated(ctx, t, nodes, topic, parts)
	victim := nodeByID(t, nodes, initial[0].Leader)
	survivors := without(nodes, victim)
	before, err := clusterStatus(t, victim.http)
	if err != nil {
		t.Fatal(err)
	}
	oldEpoch := epochOf(before, victim.id)

	prod, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddrs(nodes)...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	acks := newAckLog(killAfter)
	stop := make(chan struct{})
	var loop, inflight sync.WaitGroup
	loop.Add(1)
	go func() {
		defer loop.Done()
		loadProducer(ctx, prod, topic, "r", parts, acks, stop, &inflight)
	}()
	stopped := false
	stopLoop := func() {
		if !stopped {
			stopped = true
			close(stop)
			loop.Wait()
		}
	}
	defer stopLoop()
	select {
	case <-acks.full:
	case <-ctx.Done():
		t.Fatalf("only %d records acknowledged before the deadline", acks.n.Load())
	}

	// A tail nobody acknowledged: the followers are stopped (SIGSTOP, well
	// under the session and lag timeouts) while the leader of partition 0
	// appends what the producer sends, then the leader dies. A follower's
	// fetch parked at the leader may still be answered with the first
	// appends after the stop (the follower reads it once continued); what
	// comes after that reaches nobody, so the new leader's log diverges
	// from the dead leader's there, and the restarted broker must cut it.
	for _, nd := range survivors {
		if err := syscall.Kill(nd.proc.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	leo0 := fmt.Sprintf(`chronik_log_end_offset{partition="0",topic="%s"}`, topic)
	atStop := scrapeChronik(t, victim.http)[leo0]
	lastEnd, grown := atStop, time.Time{}
	for stopDeadline := time.Now().Add(time.Second); time.Now().Before(stopDeadline); {
		if end := scrapeChronik(t, victim.http)[leo0]; end > lastEnd {
			if grown.IsZero() {
				grown = time.Now()
			} else if time.Since(grown) > 300*time.Millisecond {
				break // grew again well after the parked fetches were answered
			}
			lastEnd = end
		}
		time.Sleep(20 * time.Millisecond)
	}
	victim.kill(t)
	killed := time.Now()
	acksAtKill := acks.n.Load()
	for _, nd := range survivors {
		if err := syscall.Kill(nd.proc.cmd.Process.Pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	var afterKill map[int32]kmsg.MetadataResponseTopicPartition
	for _, nd := range survivors {
		afterKill = partitionsOn(ctx, t, nd, topic, parts, replSessionTimeout+replFailoverMargin-time.Since(killed),
			fmt.Sprintf("every partition led by a survivor after broker %d's SIGKILL", victim.id),
			func(p kmsg.MetadataResponseTopicPartition) (bool, string) {
				return p.Leader >= 1 && p.Leader != victim.id, "no live leader"
			})
	}
	newLeaders := time.Since(killed)
	acksAtLeaders := acks.n.Load()
	eventually(t, replSessionTimeout+replFailoverMargin, "a first acknowledgement after the kill", func() (bool, string) {
		return acks.n.Load() > acksAtKill, fmt.Sprintf("%d acknowledged", acks.n.Load())
	})
	firstAck := time.Since(killed)
	eventually(t, 90*time.Second, fmt.Sprintf("%d more acknowledgements after the failover", moreAfter), func() (bool, string) {
		n := acks.n.Load()
		return n >= acksAtLeaders+moreAfter && acks.errs.Load() == 0, fmt.Sprintf("%d acknowledged, %d failed", n, acks.errs.Load())
	})
	stopLoop()
	if err := prod.Flush(ctx); err != nil {
		t.Fatalf("flushing the producer: %v", err)
	}
	waitGroupWithin(t, &inflight, 30*time.Second, "producer promises")
	if n := acks.errs.Load(); n != 0 {
		t.Fatalf("%d records failed across the failover", n)
	}
	t.Logf("broker %d (leader of partition 0) killed after %d acknowledgements; every partition led by a survivor on every survivor %v later (session timeout %v), %d acknowledged by then; first acknowledgement after the kill within %v; %d acknowledged in all, none failed",
		victim.id, acksAtKill, newLeaders.Round(time.Millisecond), replSessionTimeout, acksAtLeaders, firstAck.Round(time.Millisecond), acks.n.Load())

	// Every acknowledged record, read from the survivors.
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddrs(survivors)...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("ListEndOffsets: %v / %v", err, ends.Error())
	}
	end := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
	stored := readPartitions(ctx, t, survivors[0].kafka, topic, end)
	checkAcked(t, topic, acks.records(), stored, end)

	// The killed broker comes back on its data: a higher epoch, in every
	// ISR again, every partition's log end offset the leader's.
	victim.start(t)
	restarted := time.Now()
	victim.proc.waitReady(t)
	ready := time.Since(restarted)
	for _, nd := range nodes {
		partitionsOn(ctx, t, nd, topic, parts, 60*time.Second-time.Since(restarted),
			fmt.Sprintf("broker %d back in every ISR", victim.id), fullISR)
	}
	rejoined := time.Since(restarted)
	st, err := clusterStatus(t, survivors[0].http)
	if err != nil {
		t.Fatal(err)
	}
	if e := epochOf(st, victim.id); e <= oldEpoch {
		t.Fatalf("broker %d restarted with epoch %d, before the kill %d", victim.id, e, oldEpoch)
	}
	for _, nd := range nodes {
		eventually(t, 30*time.Second, fmt.Sprintf("node %d has every partition's log end offset", nd.id), func() (bool, string) {
			m := scrapeChronik(t, nd.http)
			for p := range int32(parts) {
				key := fmt.Sprintf(`chronik_log_end_offset{partition="%d",topic="%s"}`, p, topic)
				if got := m[key]; got != float64(end[p]) {
					return false, fmt.Sprintf("%s = %v, want %d", key, got, end[p])
				}
			}
			return true, ""
		})
	}
	// The restarted broker's partition 0 ended where the dead leader's log
	// ended; the new leader's first epoch started at its own log end. If
	// the first is past the second, the restarted broker must have cut its
	// log back to the new leader's epoch start (and the records compared
	// below show what it kept is the survivors').
	firstInt := func(out, pattern string) int64 {
		mm := regexp.MustCompile(pattern).FindStringSubmatch(out)
		if mm == nil {
			return -1
		}
		n, _ := strconv.ParseInt(mm[1], 10, 64)
		return n
	}
	newLeader := nodeByID(t, nodes, afterKill[0].Leader)
	diedAt := firstInt(victim.proc.out.String(), `msg="partition: opened" component=partition topic=`+topic+` partition=0 .*log_end_offset=(\d+)`)
	epochStart := firstInt(newLeader.proc.out.String(), `msg="partition: leading" component=partition topic=`+topic+` partition=0 leader_epoch=[1-9]\d* log_end_offset=(\d+)`)
	cutTo := firstInt(victim.proc.out.String(), `msg="replica: truncating a diverging follower log".* topic=`+topic+` partition=0 .*truncate_to=(\d+)`)
	if diedAt < 0 || epochStart < 0 {
		t.Fatalf("no log line with partition 0's log end on broker %d's restart (%d) or broker %d's takeover (%d)", victim.id, diedAt, newLeader.id, epochStart)
	}
	if diedAt > epochStart && cutTo != epochStart {
		t.Fatalf("broker %d restarted with partition 0 ending at %d, past broker %d's epoch start %d, and truncated to %d",
			victim.id, diedAt, newLeader.id, epochStart, cutTo)
	}
	t.Logf("broker %d restarted: ready %v and in every partition's ISR on every node %v after its start (lag time max %v); partition 0: log end %d at the stop of the followers, %d on its restart, new leader %d's epoch started at %d, truncated to %d (-1: none)",
		victim.id, ready.Round(time.Millisecond), rejoined.Round(time.Millisecond), replLagTimeMax, int64(atStop), diedAt, newLeader.id, epochStart, cutTo)

	// Leadership back to the preferred replicas: the restarted broker
	// leads its partitions and serves the same records the survivors did.
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}, 1: {}, 2: {}}})
	if err != nil {
		t.Fatalf("ElectLeaders PREFERRED: %v", err)
	}
	for _, ps := range res {
		for p, r := range ps {
			if r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
				t.Fatalf("ElectLeaders PREFERRED partition %d: %v %s", p, r.Err, r.ErrMessage)
			}
		}
	}
	var led []int32
	for _, nd := range nodes {
		final := partitionsOn(ctx, t, nd, topic, parts, 30*time.Second, "preferred replicas lead",
			func(p kmsg.MetadataResponseTopicPartition) (bool, string) {
				ok, state := fullISR(p)
				return ok && p.Leader == p.Replicas[0], state + " or leader is not the preferred replica"
			})
		led = led[:0]
		for p, pm := range final {
			if pm.Leader == victim.id {
				led = append(led, p)
			}
		}
	}
	if !slices.Contains(led, 0) {
		t.Fatalf("broker %d, partition 0's first leader, leads %v after the preferred election", victim.id, led)
	}
	again := readPartitions(ctx, t, victim.kafka, topic, end)
	for p := range int32(parts) {
		a, b := stored[p], again[p]
		if len(a) != len(b) {
			t.Fatalf("partition %d: %d records before the restart, %d after", p, len(a), len(b))
		}
		for i := range a {
			if a[i].Offset != b[i].Offset || string(a[i].Value) != string(b[i].Value) || a[i].LeaderEpoch != b[i].LeaderEpoch ||
				a[i].ProducerID != b[i].ProducerID || a[i].ProducerEpoch != b[i].ProducerEpoch || !a[i].Timestamp.Equal(b[i].Timestamp) {
				t.Fatalf("partition %d offset %d: served by the survivors as %q (epoch %d), after the restart as %q (epoch %d)",
					p, a[i].Offset, a[i].Value, a[i].LeaderEpoch, b[i].Value, b[i].LeaderEpoch)
			}
		}
	}
	checkAcked(t, topic, acks.records(), again, end)
	t.Logf("after PREFERRED election broker %d leads partitions %v and serves the same %d records (offsets, values, leader epochs, producer ids)",
		victim.id, led, len(stored[0])+len(stored[1])+len(stored[2]))
}

// findCoordinatorOn asks node nd itself for group's coordinator.
func findCoordinatorOn(ctx context.Context, t *testing.T, nd *clusterNode, group string) (int32, error) {
	t.Helper()
	if _, err := nd.metadataOf(ctx, t); err != nil { // sets up nd.meta
		return -1, err
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = group
	req.CoordinatorKeys = []string{group}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r, err := nd.meta.Broker(math.MinInt32).Request(rctx, req)
	if err != nil {
		return -1, err
	}
	resp := r.(*kmsg.FindCoordinatorResponse)
	code, id := resp.ErrorCode, resp.NodeID
	if len(resp.Coordinators) > 0 {
		code, id = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
	}
	if err := kerr.ErrorForCode(code); err != nil {
		return -1, err
	}
	return id, nil
}

// TestReplicationGroupCoordinatorFailover: a group member consumes part of
// a replicated topic and commits; the broker coordinating the group is
// SIGKILLed; every survivor names a new live coordinator, OffsetFetch
// answers the committed offsets, and a new member of the group resumes
// exactly after them and reads the rest once.
func TestReplicationGroupCoordinatorFailover(t *testing.T) {
	t.Run("raft", func(t *testing.T) { testGroupCoordinatorFailover(t) })
	t.Run("etcd", func(t *testing.T) {
		testGroupCoordinatorFailover(t, "--metadata", "etcd", "--metadata.etcd.endpoints", startEtcd(t))
	})
}

// testGroupCoordinatorFailover is TestReplicationGroupCoordinatorFailover
// on the backend the flags name.
func testGroupCoordinatorFailover(t *testing.T, backend ...string) {
	const (
		topic, group = "grp-events", "grp"
		parts        = 3
		perPart      = 300
		consumeFirst = 400 // records the first member takes before committing
	)
	nodes := startRaftCluster(t, 3, replicationArgs(backend...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	createReplicated(ctx, t, nodes, topic, parts)

	prod, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddrs(nodes)...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for round := range perPart / 10 { // batches of 10 records: the first member's fetches interleave partitions
		var recs []*kgo.Record
		for p := range int32(parts) {
			for i := round * 10; i < round*10+10; i++ {
				recs = append(recs, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)})
			}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}

	// The first member takes some records a few at a time and commits.
	member := func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddrs(nodes)...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(1))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	first := member()
	defer first.Close()
	taken, takenFrom := 0, map[int32]int{}
	for taken < consumeFirst || len(takenFrom) < parts {
		fs := first.PollRecords(ctx, 10)
		if ctx.Err() != nil {
			t.Fatalf("first member: %d records (%v) before the deadline", taken, takenFrom)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("first member: fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) { takenFrom[r.Partition]++ })
		taken += fs.NumRecords()
	}
	if err := first.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	committed := map[int32]int64{}
	for p, eo := range first.CommittedOffsets()[topic] {
		committed[p] = eo.Offset
	}
	first.Close() // leaves the group
	var total int64
	for _, o := range committed {
		total += o
	}
	if total != int64(taken) || len(committed) != parts {
		t.Fatalf("committed %v (%d records) after taking %d (%v)", committed, total, taken, takenFrom)
	}

	// The offsets topic was created through whichever broker the member
	// asked first; node 1 answers COORDINATOR_NOT_AVAILABLE (which clients
	// retry) until its image has it.
	var coord int32
	eventually(t, 20*time.Second, fmt.Sprintf("node 1 names the coordinator of %s", group), func() (bool, string) {
		id, err := findCoordinatorOn(ctx, t, nodes[0], group)
		if err != nil {
			return false, err.Error()
		}
		coord = id
		return true, ""
	})
	victim := nodeByID(t, nodes, coord)
	survivors := without(nodes, victim)
	victim.kill(t)
	killed := time.Now()

	newCoord := map[int32]int32{}
	for _, nd := range survivors {
		eventually(t, replSessionTimeout+replFailoverMargin+5*time.Second-time.Since(killed),
			fmt.Sprintf("node %d names a live coordinator of %s", nd.id, group), func() (bool, string) {
				id, err := findCoordinatorOn(ctx, t, nd, group)
				if err != nil {
					return false, err.Error()
				}
				newCoord[nd.id] = id
				return id != victim.id && id >= 1, fmt.Sprintf("coordinator %d", id)
			})
	}
	coordAfter := time.Since(killed)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddrs(survivors)...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	eventually(t, 30*time.Second, "OffsetFetch answers the committed offsets", func() (bool, string) {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		os, err := adm.FetchOffsets(fctx, group)
		if err != nil {
			return false, err.Error()
		}
		for p, want := range committed {
			o, ok := os.Lookup(topic, p)
			if !ok || o.Err != nil || o.At != want {
				return false, fmt.Sprintf("partition %d: %+v (found %v), want %d", p, o, ok, want)
			}
		}
		return true, ""
	})
	offsetsAfter := time.Since(killed)
	t.Logf("coordinator broker %d killed; survivors name %v within %v, committed offsets %v fetched %v after the kill",
		victim.id, newCoord, coordAfter.Round(time.Millisecond), committed, offsetsAfter.Round(time.Millisecond))

	// A new member resumes right after the committed offsets.
	second, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddrs(survivors)...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	next := maps.Clone(committed)
	rest := parts*perPart - taken
	got := 0
	for got < rest {
		fs := second.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("second member: %d of %d records before the deadline", got, rest)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("second member: fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				t.Fatalf("second member: partition %d offset %d, want %d (committed %d)", r.Partition, r.Offset, next[r.Partition], committed[r.Partition])
			}
			if want := fmt.Sprintf("%d-%d", r.Partition, r.Offset); string(r.Value) != want {
				t.Fatalf("second member: partition %d offset %d value %q, want %q", r.Partition, r.Offset, r.Value, want)
			}
			next[r.Partition]++
			got++
		})
	}
	for p := range int32(parts) {
		if next[p] != perPart {
			t.Fatalf("second member: partition %d ends at %d, want %d", p, next[p], perPart)
		}
	}
	t.Logf("the new member resumed at %v and read the other %d records once", committed, got)
}
