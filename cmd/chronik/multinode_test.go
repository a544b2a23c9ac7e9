package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestThreeNodeRaftCluster: three chronik processes given the same
// --metadata.peers form one Raft metadata cluster, and a client that
// bootstraps from any one node sees all three brokers (the failure in
// ../shared/seed was each node listing only itself) and a topic created
// through another node.
func TestThreeNodeRaftCluster(t *testing.T) {
	raftAddrs := []string{freePort(t), freePort(t), freePort(t)}
	var peers []string
	for i, a := range raftAddrs {
		peers = append(peers, fmt.Sprintf("%d@%s", i+1, a))
	}
	var procs []*chronikProc
	for i := range 3 {
		procs = append(procs, startChronik(t, t.TempDir(), "--broker-id", fmt.Sprint(i+1),
			"--metadata.address", raftAddrs[i], "--metadata.peers", strings.Join(peers, ",")))
	}
	for _, p := range procs {
		p.waitReady(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A topic created through node 3.
	cl3, err := kgo.NewClient(kgo.SeedBrokers(procs[2].kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl3.Close()
	ct := kmsg.NewPtrCreateTopicsRequest()
	tt := kmsg.NewCreateTopicsRequestTopic()
	tt.Topic, tt.NumPartitions, tt.ReplicationFactor = "shared", 6, 1
	ct.Topics = append(ct.Topics, tt)
	ct.TimeoutMillis = 10000
	cresp, err := ct.RequestWith(ctx, cl3)
	if err != nil || cresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics via node 3: %v %+v", err, cresp)
	}

	for i, p := range procs {
		// One connection to exactly this node: the answer is its own.
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka))
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr("shared")
			req.Topics = append(req.Topics, rt)
			resp, err := cl.Broker(math.MinInt32).Request(ctx, req) // kgo numbers seed i as MinInt32+i: this node
			var ids []int32
			leaders := 0
			if err == nil {
				m := resp.(*kmsg.MetadataResponse)
				for _, b := range m.Brokers {
					ids = append(ids, b.NodeID)
				}
				slices.Sort(ids)
				if len(m.Topics) == 1 && m.Topics[0].ErrorCode == 0 {
					for _, pt := range m.Topics[0].Partitions {
						if pt.ErrorCode == 0 && pt.Leader >= 1 && pt.Leader <= 3 {
							leaders++
						}
					}
				}
			}
			if slices.Equal(ids, []int32{1, 2, 3}) && leaders == 6 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d answers brokers %v and %d of 6 partitions with a live leader (err %v)", i+1, ids, leaders, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cl.Close()
	}
	for _, p := range procs {
		p.stop(t)
	}
}
