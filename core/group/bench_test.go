package group

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkRebalance10: one op is a whole rebalance of a Stable 10-member
// group: every member rejoins at once with new metadata (as members do
// when told REBALANCE_IN_PROGRESS), the join phase completes when the last
// one arrived, the leader's assignment is written to __consumer_offsets
// (acks=all) and every SyncGroup is answered. The group is formed before
// the timer (with a 200ms initial delay so that it forms in one
// generation); the rebalances measured have no delay.
func BenchmarkRebalance10(b *testing.B) {
	h := newHarness(b, func(c *Config) { c.InitialRebalanceDelay = 200 * time.Millisecond })
	ctx := context.Background()
	ids := make([]string, 10)
	round := func(n int) {
		joins := make([]*kmsg.JoinGroupResponse, len(ids))
		var wg sync.WaitGroup
		for m := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := kmsg.NewPtrJoinGroupRequest()
				req.Version, req.Group, req.MemberID, req.ProtocolType = 3, "bench", ids[m], "consumer"
				req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 30000, 30000
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name, p.Metadata = "range", fmt.Appendf(nil, "round-%d", n)
				req.Protocols = append(req.Protocols, p)
				joins[m] = h.c.JoinGroup(ctx, req, Client{ID: "bench"})
			}()
		}
		wg.Wait()
		for m, j := range joins {
			if j.ErrorCode != 0 {
				b.Fatalf("round %d join: %+v", n, j)
			}
			ids[m] = j.MemberID
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := kmsg.NewPtrSyncGroupRequest()
				req.Version, req.Group, req.MemberID, req.Generation = 3, "bench", j.MemberID, j.Generation
				if j.LeaderID == j.MemberID {
					for _, m := range j.Members {
						a := kmsg.NewSyncGroupRequestGroupAssignment()
						a.MemberID, a.MemberAssignment = m.MemberID, []byte("a")
						req.GroupAssignment = append(req.GroupAssignment, a)
					}
				}
				if resp := h.c.SyncGroup(ctx, req); resp.ErrorCode != 0 || len(resp.MemberAssignment) != 1 {
					b.Errorf("round %d sync: %+v", n, resp)
				}
			}()
		}
		wg.Wait()
		if joins[0].Generation != int32(n+1) {
			b.Fatalf("round %d ended at generation %d", n, joins[0].Generation)
		}
	}
	round(0)
	b.ResetTimer()
	for i := range b.N {
		round(i + 1)
	}
}

// BenchmarkOffsetCommit: one op is one OffsetCommit of one partition
// (simple commit), answered once replicated; reports the p99 latency.
func BenchmarkOffsetCommit(b *testing.B) {
	h := newHarness(b)
	if _, err := h.cl.CreateTopic(testCtx(b), "t", 1, 1, nil, nil); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.Generation = 8, "bench", -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = int64(i)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		resp := h.c.OffsetCommit(ctx, req)
		lat = append(lat, time.Since(start))
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			b.Fatalf("commit: %d", code)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}
