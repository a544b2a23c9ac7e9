package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/broker"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// clusterNode is one broker of a test cluster with fixed ports and data
// dir, so that it can be killed and started again as the same node.
type clusterNode struct {
	id    int32
	dir   string
	kafka string
	http  string
	raft  string
	args  []string // everything but the ports and the data dir
	proc  *chronikProc
	meta  *kgo.Client // talks to this node only (see metadataOf)
}

// startRaftCluster starts n brokers 1..n forming one Raft metadata cluster,
// each with extra flags, and waits until every one is ready.
func startRaftCluster(t *testing.T, n int, extra ...string) []*clusterNode {
	t.Helper()
	nodes := make([]*clusterNode, n)
	var peers []string
	for i := range nodes {
		nodes[i] = &clusterNode{id: int32(i + 1), dir: t.TempDir(), kafka: freePort(t), http: freePort(t), raft: freePort(t)}
		peers = append(peers, fmt.Sprintf("%d@%s", i+1, nodes[i].raft))
	}
	for _, nd := range nodes {
		nd.args = append([]string{"--broker-id", fmt.Sprint(nd.id), "--metadata.peers", strings.Join(peers, ",")}, extra...)
		nd.start(t)
	}
	for _, nd := range nodes {
		nd.proc.waitReady(t)
	}
	// Ready is registered and serving; the tests that follow place
	// partitions over every broker, so each must list all of them.
	want := map[int32]string{}
	for _, nd := range nodes {
		want[nd.id] = nd.kafka
	}
	waitListsBrokers(t, nodes, want)
	return nodes
}

// waitListsBrokers waits until every node's Metadata lists exactly the
// brokers of want (id -> host:port).
func waitListsBrokers(t *testing.T, nodes []*clusterNode, want map[int32]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, nd := range nodes {
		eventually(t, 20*time.Second, fmt.Sprintf("node %d lists brokers %v", nd.id, want), func() (bool, string) {
			m, err := nd.metadataOf(ctx, t)
			if err != nil {
				return false, err.Error()
			}
			got := map[int32]string{}
			for _, b := range m.Brokers {
				got[b.NodeID] = net.JoinHostPort(b.Host, fmt.Sprint(b.Port))
			}
			return maps.Equal(got, want), fmt.Sprint(got)
		})
	}
}

// start runs the node's process (again) on its ports and data dir.
func (nd *clusterNode) start(t *testing.T) {
	t.Helper()
	p := &chronikProc{kafka: nd.kafka, http: nd.http, out: &syncBuffer{}, done: make(chan error, 1)}
	args := append([]string{"--data-dir", nd.dir, "--listen", nd.kafka, "--http", nd.http,
		"--metadata.address", nd.raft}, nd.args...)
	p.cmd = exec.Command(chronikBinary, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("broker %d output:\n%s", nd.id, p.out.String())
		}
	})
	nd.proc = p
}

// kill sends SIGKILL and waits for the process to be gone.
func (nd *clusterNode) kill(t *testing.T) {
	t.Helper()
	if err := nd.proc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-nd.proc.done
	nd.proc.done <- err
}

// metadataOf asks exactly this node (never another broker it knows of)
// for the metadata of topics (none: brokers only).
func (nd *clusterNode) metadataOf(ctx context.Context, t *testing.T, topics ...string) (*kmsg.MetadataResponse, error) {
	t.Helper()
	if nd.meta == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(nd.kafka), kgo.RetryTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		nd.meta = cl
	}
	req := kmsg.NewPtrMetadataRequest()
	for _, tp := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(tp)
		req.Topics = append(req.Topics, rt)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := nd.meta.Broker(math.MinInt32).Request(rctx, req) // kgo numbers seed i as MinInt32+i
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// brokerIDs returns the sorted broker ids of a Metadata response.
func brokerIDs(m *kmsg.MetadataResponse) []int32 {
	var ids []int32
	for _, b := range m.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids
}

// eventually polls cond every 50 ms until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, within, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// raftLeader returns the broker id of the Raft leader as node nd sees it.
func raftLeader(t *testing.T, nd *clusterNode) string {
	t.Helper()
	var leader string
	eventually(t, 20*time.Second, "a raft leader", func() (bool, string) {
		resp, err := http.Get("http://" + nd.http + "/v1/metadata")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var info metadata.Info
		if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
			return false, err.Error()
		}
		leader = info.Leader
		return leader != "", "no leader"
	})
	return leader
}

// TestLivenessKillAndRestart: in a 3-broker Raft cluster, a broker killed
// with SIGKILL leaves every other node's Metadata within the session
// timeout plus one second, its partitions (replication factor 1) answer
// LEADER_NOT_AVAILABLE on every node while it is away, and started again
// on the same data dir it is listed again with a higher epoch, leads its
// partitions again and serves every record it had.
func TestLivenessKillAndRestart(t *testing.T) {
	const sessionTimeout = 3 * time.Second
	nodes := startRaftCluster(t, 3, "--metadata.session-timeout", sessionTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const topic, parts, perPart = "live", 6, 50
	adm, err := kgo.NewClient(kgo.SeedBrokers(nodes[0].kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if resp, err := kadm.NewClient(adm).CreateTopic(ctx, parts, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	leaders := map[int32]int32{} // partition -> leader
	for _, nd := range nodes {
		eventually(t, 10*time.Second, fmt.Sprintf("node %d lists 3 brokers and 6 leaders", nd.id), func() (bool, string) {
			m, err := nd.metadataOf(ctx, t, topic)
			if err != nil {
				return false, err.Error()
			}
			if !slices.Equal(brokerIDs(m), []int32{1, 2, 3}) || len(m.Topics) != 1 || len(m.Topics[0].Partitions) != parts {
				return false, fmt.Sprintf("brokers %v topics %+v", brokerIDs(m), m.Topics)
			}
			for _, p := range m.Topics[0].Partitions {
				if p.ErrorCode != 0 || p.Leader < 1 {
					return false, fmt.Sprintf("partition %d: error %d leader %d", p.Partition, p.ErrorCode, p.Leader)
				}
				leaders[p.Partition] = p.Leader
			}
			return true, ""
		})
	}

	// Records in every partition, acknowledged by all in-sync replicas.
	prod, err := kgo.NewClient(kgo.SeedBrokers(nodes[0].kafka), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for p := range int32(parts) {
		for i := range perPart {
			r := &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce to partition %d: %v", p, err)
			}
		}
	}

	// The victim is a broker that is not the Raft leader: killing the
	// leader adds an election and, by design, a fresh session timeout for
	// every broker (DESIGN.md 3.5) before anyone is fenced.
	leader := raftLeader(t, nodes[0])
	var victim *clusterNode
	for _, nd := range slices.Backward(nodes) {
		if fmt.Sprint(nd.id) != leader {
			victim = nd
			break
		}
	}
	var victimParts []int32
	for p, l := range leaders {
		if l == victim.id {
			victimParts = append(victimParts, p)
		}
	}
	if len(victimParts) == 0 {
		t.Fatalf("broker %d leads no partition of %v", victim.id, leaders)
	}
	before, err := clusterStatus(t, nodes[0].http)
	if err != nil {
		t.Fatal(err)
	}
	oldEpoch := epochOf(before, victim.id)
	survivors := slices.DeleteFunc(slices.Clone(nodes), func(nd *clusterNode) bool { return nd == victim })

	victim.kill(t)
	killed := time.Now()
	want := []int32{}
	for _, nd := range nodes {
		if nd != victim {
			want = append(want, nd.id)
		}
	}
	for _, nd := range survivors {
		eventually(t, sessionTimeout+time.Second-time.Since(killed), fmt.Sprintf("broker %d gone from node %d's Metadata", victim.id, nd.id), func() (bool, string) {
			m, err := nd.metadataOf(ctx, t, topic)
			if err != nil {
				return false, err.Error()
			}
			return slices.Equal(brokerIDs(m), want), fmt.Sprint(brokerIDs(m))
		})
	}
	t.Logf("broker %d absent from every other node's Metadata %v after SIGKILL (session timeout %v)",
		victim.id, time.Since(killed).Round(time.Millisecond), sessionTimeout)

	// While it is away, its partitions have no leader anywhere; the others
	// keep theirs. Checked on every survivor, several rounds apart.
	checkAway := func(nd *clusterNode) (bool, string) {
		m, err := nd.metadataOf(ctx, t, topic)
		if err != nil {
			return false, err.Error()
		}
		if len(m.Topics) != 1 || len(m.Topics[0].Partitions) != parts {
			return false, fmt.Sprintf("topics %+v", m.Topics)
		}
		for _, p := range m.Topics[0].Partitions {
			away := slices.Contains(victimParts, p.Partition)
			if away && (p.ErrorCode != kerr.LeaderNotAvailable.Code || p.Leader != -1) {
				return false, fmt.Sprintf("partition %d of the killed broker: error %d leader %d", p.Partition, p.ErrorCode, p.Leader)
			}
			if !away && (p.ErrorCode != 0 || p.Leader != leaders[p.Partition]) {
				return false, fmt.Sprintf("partition %d: error %d leader %d, want %d", p.Partition, p.ErrorCode, p.Leader, leaders[p.Partition])
			}
		}
		return true, ""
	}
	for range 3 {
		for _, nd := range survivors {
			if ok, state := checkAway(nd); !ok {
				t.Fatalf("node %d while broker %d is away: %s", nd.id, victim.id, state)
			}
			st, err := clusterStatus(t, nd.http)
			if err != nil {
				t.Fatal(err)
			}
			var offline []int32
			for _, p := range st.Offline {
				offline = append(offline, p.Partition)
			}
			slices.Sort(offline)
			slices.Sort(victimParts)
			if stateOf(st, victim.id) != broker.BrokerFenced || !slices.Equal(offline, victimParts) {
				t.Fatalf("cluster status of node %d: broker %d %q, offline %v, want fenced and %v",
					nd.id, victim.id, stateOf(st, victim.id), offline, victimParts)
			}
		}
	}

	// Back on the same data dir: listed everywhere with a higher epoch,
	// leading its partitions again.
	victim.start(t)
	victim.proc.waitReady(t)
	for _, nd := range nodes {
		eventually(t, 10*time.Second, fmt.Sprintf("node %d lists broker %d again with its partitions", nd.id, victim.id), func() (bool, string) {
			m, err := nd.metadataOf(ctx, t, topic)
			if err != nil {
				return false, err.Error()
			}
			if !slices.Equal(brokerIDs(m), []int32{1, 2, 3}) || len(m.Topics) != 1 {
				return false, fmt.Sprintf("brokers %v", brokerIDs(m))
			}
			for _, p := range m.Topics[0].Partitions {
				if p.ErrorCode != 0 || p.Leader != leaders[p.Partition] {
					return false, fmt.Sprintf("partition %d: error %d leader %d, want %d", p.Partition, p.ErrorCode, p.Leader, leaders[p.Partition])
				}
			}
			return true, ""
		})
		st, err := clusterStatus(t, nd.http)
		if err != nil {
			t.Fatal(err)
		}
		if e := epochOf(st, victim.id); stateOf(st, victim.id) != broker.BrokerLive || e <= oldEpoch {
			t.Fatalf("node %d: broker %d %s with epoch %d, want live above %d", nd.id, victim.id, stateOf(st, victim.id), e, oldEpoch)
		}
	}
	if got := consumeAll(ctx, t, victim.kafka, topic, parts*perPart); got != parts*perPart {
		t.Fatalf("after the restart: consumed %d records, want %d", got, parts*perPart)
	}
}

func epochOf(st broker.ClusterStatus, id int32) int64 {
	for _, b := range st.Brokers {
		if b.ID == id {
			return b.Epoch
		}
	}
	return -1
}

func stateOf(st broker.ClusterStatus, id int32) string {
	for _, b := range st.Brokers {
		if b.ID == id {
			return b.State
		}
	}
	return "absent"
}

// TestAdvertisedAddressValidation: an advertised address clients cannot
// use is a startup error that names it, before anything listens.
func TestAdvertisedAddressValidation(t *testing.T) {
	for _, tc := range []struct{ advertised, want string }{
		{"0.0.0.0:9092", "unspecified address 0.0.0.0 cannot be advertised"},
		{"[::]:9092", "unspecified address :: cannot be advertised"},
		{":9092", "empty host"},
		{"nope", "missing port"},
		{"host:99999", `port "99999"`},
		{"bad host!:9092", "neither an IP address nor a host name"},
	} {
		out, err := exec.Command(chronikBinary, "--data-dir", t.TempDir(), "--listen", freePort(t), "--http", "",
			"--metadata.address", freePort(t), "--advertised", tc.advertised).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), tc.advertised[:min(len(tc.advertised), 4)]) {
			t.Errorf("--advertised %q: err %v, output lacks %q:\n%s", tc.advertised, err, tc.want, out)
		}
		if strings.Contains(string(out), "chronik is listening") {
			t.Errorf("--advertised %q: the broker started listening:\n%s", tc.advertised, out)
		}
	}
}
