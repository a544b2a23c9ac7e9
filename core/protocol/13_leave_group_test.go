package protocol_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupMember is a kgo group consumer run by a goroutine the test owns:
// it polls, records every value, commits what it polled before allowing
// a rebalance (kgo.BlockRebalanceOnPoll), so that with manual commits
// every record is consumed exactly once across the group.
type groupMember struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

// seen counts the values consumed across a group.
type seen struct {
	mu     sync.Mutex
	counts map[string]int
	errs   []error
}

func (s *seen) add(v string) {
	s.mu.Lock()
	s.counts[v]++
	s.mu.Unlock()
}

func (s *seen) fail(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

func (s *seen) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.counts)
}

func startMember(t *testing.T, addr, group string, s *seen, opts ...kgo.Opt) *groupMember {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics("work"), kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(), kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &groupMember{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		// Each poll is bounded, and commits are never cancelled by stop:
		// a commit cut short could land after the member left, when the
		// partition's new owner already read the older offset.
		for ctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			fs := cl.PollRecords(pctx, 50)
			pcancel()
			fs.EachError(func(topic string, p int32, err error) {
				if !isCtxErr(err) {
					s.fail(fmt.Errorf("fetch %s/%d: %w", topic, p, err))
				}
			})
			recs := fs.Records()
			for _, r := range recs {
				s.add(string(r.Value))
			}
			if len(recs) > 0 {
				cctx, ccancel := context.WithTimeout(context.Background(), e2eWait)
				if err := cl.CommitRecords(cctx, recs...); err != nil {
					s.fail(fmt.Errorf("commit: %w", err))
				}
				ccancel()
			}
			cl.AllowRebalance()
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// stop ends the poll loop and closes the client (leaving the group unless
// it is a static member).
func (m *groupMember) stop() {
	m.cancel()
	<-m.done
	m.cl.Close()
}

// assignment returns each member's partitions of "work" from
// DescribeGroups, once the group is Stable.
func assignment(t *testing.T, adm *kadm.Client, group string) map[string][]int32 {
	t.Helper()
	ds, err := adm.DescribeGroups(e2eCtx(t), group)
	if err != nil {
		return nil
	}
	d := ds[group]
	if d.Err != nil || d.State != "Stable" {
		return nil
	}
	out := map[string][]int32{}
	for _, m := range d.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok {
			return nil
		}
		for _, tp := range ca.Topics {
			out[m.MemberID] = append(out[m.MemberID], tp.Partitions...)
		}
		slices.Sort(out[m.MemberID])
	}
	return out
}

// disjointCover reports whether the members have n members, each with at
// least one partition, together exactly partitions 0..parts-1.
func disjointCover(a map[string][]int32, n, parts int) bool {
	if len(a) != n {
		return false
	}
	var all []int32
	for _, ps := range a {
		if len(ps) == 0 {
			return false
		}
		all = append(all, ps...)
	}
	slices.Sort(all)
	if len(all) != parts {
		return false
	}
	for i, p := range all {
		if p != int32(i) {
			return false
		}
	}
	return true
}

// TestGroupRebalanceExactlyOnce: 3 consumers share 6 partitions with no
// overlap and no gap; a 4th joins and one leaves; the rebalances finish
// and every record is consumed exactly once across the group (manual
// commits before each rebalance), for the cooperative-sticky and the eager
// range balancer.
func TestGroupRebalanceExactlyOnce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
		{"range", kgo.RangeBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, b := oneGroupBroker(t)
			createTopic(t, b.addr, "work", 6)
			adm := kadm.NewClient(e2eClient(t, b.addr))
			s := &seen{counts: map[string]int{}}
			g := "share-" + tc.name
			bal := kgo.Balancers(tc.balancer)

			produceN(t, b.addr, "work", "a", 120)
			m1 := startMember(t, b.addr, g, s, bal)
			m2 := startMember(t, b.addr, g, s, bal)
			m3 := startMember(t, b.addr, g, s, bal)
			eventually(t, "3 members with disjoint partitions covering all 6", func() bool {
				return disjointCover(assignment(t, adm, g), 3, 6)
			})
			eventually(t, "the first 120 records consumed", func() bool { return s.distinct() >= 120 })

			m4 := startMember(t, b.addr, g, s, bal)
			eventually(t, "4 members with disjoint partitions", func() bool {
				return disjointCover(assignment(t, adm, g), 4, 6)
			})
			produceN(t, b.addr, "work", "b", 120)
			eventually(t, "240 records consumed", func() bool { return s.distinct() >= 240 })

			m2.stop()
			eventually(t, "3 members after one left", func() bool {
				return disjointCover(assignment(t, adm, g), 3, 6)
			})
			produceN(t, b.addr, "work", "c", 120)
			eventually(t, "360 records consumed", func() bool { return s.distinct() >= 360 })
			for _, m := range []*groupMember{m1, m3, m4} {
				m.stop()
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.errs) > 0 {
				t.Fatalf("consumer errors: %v", s.errs)
			}
			for _, v := range slices.Sorted(maps.Keys(s.counts)) {
				if s.counts[v] != 1 {
					t.Errorf("%s consumed %d times", v, s.counts[v])
				}
			}
			if len(s.counts) != 360 {
				t.Fatalf("consumed %d distinct records, want 360", len(s.counts))
			}
		})
	}
}

// TestGroupStaticMemberRejoins: a static member (group.instance.id) that
// restarts gets its partitions back without a rebalance: the generation
// of the other member (the leader) does not change.
func TestGroupStaticMemberRejoins(t *testing.T) {
	_, b := oneGroupBroker(t)
	createTopic(t, b.addr, "work", 4)
	adm := kadm.NewClient(e2eClient(t, b.addr))
	s := &seen{counts: map[string]int{}}
	// m1 joins first and so leads the group. (A restarting static leader
	// may rebalance anyway: kgo's KIP-814 check re-balances the members'
	// join metadata and rejoins when it differs from the kept assignment,
	// as it does against Kafka.)
	m1 := startMember(t, b.addr, "static", s, kgo.InstanceID("one"))
	eventually(t, "m1 alone in the group", func() bool { return disjointCover(assignment(t, adm, "static"), 1, 4) })
	m2 := startMember(t, b.addr, "static", s, kgo.InstanceID("two"))
	var before map[string][]int32
	eventually(t, "2 static members sharing 4 partitions", func() bool {
		before = assignment(t, adm, "static")
		return disjointCover(before, 2, 4)
	})
	_, gen := m1.cl.GroupMetadata()
	old2, _ := m2.cl.GroupMetadata()

	m2.stop() // a static member does not leave the group on close
	m2 = startMember(t, b.addr, "static", s, kgo.InstanceID("two"))
	eventually(t, "the restarted static member back with a new member id", func() bool {
		id, _ := m2.cl.GroupMetadata()
		a := assignment(t, adm, "static")
		return id != "" && id != old2 && disjointCover(a, 2, 4) && len(a[id]) == len(before[old2])
	})
	if _, now := m1.cl.GroupMetadata(); now != gen {
		t.Fatalf("generation moved from %d to %d: the static rejoin caused a rebalance", gen, now)
	}
	produceN(t, b.addr, "work", "x", 40)
	eventually(t, "both members consume", func() bool { return s.distinct() >= 40 })
	m1.stop()
	m2.stop()
}
