package protocol

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func electReq(v int16, typ int8, topics map[string][]int32) *kmsg.ElectLeadersRequest {
	req := kmsg.NewPtrElectLeadersRequest()
	req.Version, req.ElectionType, req.TimeoutMillis = v, typ, 5000
	if topics != nil {
		req.Topics = []kmsg.ElectLeadersRequestTopic{}
		names := make([]string, 0, len(topics))
		for name := range topics {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic, rt.Partitions = name, topics[name]
			req.Topics = append(req.Topics, rt)
		}
	}
	return req
}

// electCodes flattens a response to "topic/partition" -> error code.
func electCodes(resp *kmsg.ElectLeadersResponse) map[string]int16 {
	out := map[string]int16{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[t.Topic+"/"+string(rune('0'+p.Partition))] = p.ErrorCode
		}
	}
	return out
}

// TestElectLeadersPreferred: every version moves leadership back to the
// preferred replica (leader epoch + 1, ISR kept) and answers
// ELECTION_NOT_NEEDED once it leads; PREFERRED_LEADER_NOT_AVAILABLE when
// the preferred replica is out of the ISR or fenced;
// UNKNOWN_TOPIC_OR_PARTITION for what does not exist.
func TestElectLeadersPreferred(t *testing.T) {
	st := harnessStore(t)
	b := harnessBroker(t, 1, harnessCluster(t, st, 1, "", true))
	stop2 := keepAlive(t, st, registerBroker(t, st, b, 2, ""))
	mustCreateTopic(t, b, "pref", -1, -1, map[int32][]int32{0: {2, 1}, 1: {1, 2}}, nil)

	for v := int16(0); v <= 2; v++ {
		moved := alterPartition(t, st, b, "pref", 0, 1, []int32{1, 2})
		resp := roundTrip[*kmsg.ElectLeadersResponse](t, b, electReq(v, 0, map[string][]int32{"pref": {0, 1}, "nope": {0}}))
		got := electCodes(resp)
		want := map[string]int16{"pref/0": 0, "pref/1": kerr.ElectionNotNeeded.Code, "nope/0": kerr.UnknownTopicOrPartition.Code}
		if len(got) != len(want) || resp.ErrorCode != 0 {
			t.Fatalf("v%d: answered %v (top-level %d), want %v", v, got, resp.ErrorCode, want)
		}
		for k, c := range want {
			if got[k] != c {
				t.Fatalf("v%d: %s answered %d, want %d (all: %v)", v, k, got[k], c, got)
			}
		}
		p, _ := b.Cluster.Image().Partition("pref", 0)
		if p.Leader != 2 || p.LeaderEpoch != moved.LeaderEpoch+1 || !slices.Equal(p.ISR, []int32{1, 2}) {
			t.Fatalf("v%d: after the election the partition is %+v (was %+v)", v, p, moved)
		}
	}

	// Preferred replica out of the ISR.
	alterPartition(t, st, b, "pref", 0, 1, []int32{1})
	resp := roundTrip[*kmsg.ElectLeadersResponse](t, b, electReq(2, 0, map[string][]int32{"pref": {0}}))
	if got := electCodes(resp)["pref/0"]; got != kerr.PreferredLeaderNotAvailable.Code {
		t.Fatalf("preferred replica out of the ISR: answered %d", got)
	}
	// In the ISR, but fenced.
	alterPartition(t, st, b, "pref", 0, 1, []int32{1, 2})
	stop2()
	waitFor(t, "broker 2 fenced", func() bool { return !b.Cluster.Image().IsLive(2) })
	resp = roundTrip[*kmsg.ElectLeadersResponse](t, b, electReq(1, 0, map[string][]int32{"pref": {0}}))
	if got := electCodes(resp)["pref/0"]; got != kerr.PreferredLeaderNotAvailable.Code {
		t.Fatalf("preferred replica fenced: answered %d", got)
	}
	if p, _ := b.Cluster.Image().Partition("pref", 0); p.Leader != 1 {
		t.Fatalf("a refused election changed the leader: %+v", p)
	}
}

// TestElectLeadersAllPartitions: null topics elect every partition and
// list only those whose election was needed.
func TestElectLeadersAllPartitions(t *testing.T) {
	st := harnessStore(t)
	b := harnessBroker(t, 1, harnessCluster(t, st, 1, "", true))
	keepAlive(t, st, registerBroker(t, st, b, 2, ""))
	mustCreateTopic(t, b, "a", -1, -1, map[int32][]int32{0: {2, 1}, 1: {1, 2}, 2: {2, 1}}, nil)
	mustCreateTopic(t, b, "b", -1, -1, map[int32][]int32{0: {1, 2}}, nil)
	for _, p := range []int32{0, 2} {
		alterPartition(t, st, b, "a", p, 1, []int32{1, 2})
	}
	resp := roundTrip[*kmsg.ElectLeadersResponse](t, b, electReq(2, 0, nil))
	got := electCodes(resp)
	if len(got) != 2 || got["a/0"] != 0 || got["a/2"] != 0 {
		t.Fatalf("elect all answered %v, want a/0 and a/2 elected, nothing else", got)
	}
	for _, p := range []int32{0, 2} {
		if part, _ := b.Cluster.Image().Partition("a", p); part.Leader != 2 {
			t.Fatalf("a/%d leader %d, want 2", p, part.Leader)
		}
	}
	resp = roundTrip[*kmsg.ElectLeadersResponse](t, b, electReq(2, 0, nil))
	if got := electCodes(resp); len(got) != 0 {
		t.Fatalf("second elect all answered %v, want nothing", got)
	}
}

// TestElectLeadersUnclean: UNCLEAN elects the first live ISR member, or
// with none the first live replica alone; ELECTION_NOT_NEEDED with a live
// leader; ELIGIBLE_LEADERS_NOT_AVAILABLE with no live replica. An unknown
// election type is INVALID_REQUEST.
func TestElectLeadersUnclean(t *testing.T) {
	st := harnessStore(t)
	b := harnessBroker(t, 1, harnessCluster(t, st, 1, "", true))
	stop2 := keepAlive(t, st, registerBroker(t, st, b, 2, ""))
	stop3 := keepAlive(t, st, registerBroker(t, st, b, 3, ""))
	mustCreateTopic(t, b, "u", -1, -1, map[int32][]int32{0: {2, 1}, 1: {3, 2}}, nil)

	resp := roundTrip[*kmsg.ElectLeadersResponse](t, b, electReq(1, 1, map[string][]int32{"u": {0}}))
	if got := electCodes(resp)["u/0"]; got != kerr.ElectionNotNeeded.Code {
		t.Fatalf("unclean with a live leader: answered %d", got)
	}
	// u/0: leader 2 (ISR {2}) dies; 1 is live but out of sync.
	alterPartition(t, st, b, "u", 0, 2, []int32{2})
	// u/1: leader 3 and ISR {3} die with 2; no replica is live.
	stop2()
	stop3()
	waitFor(t, "brokers 2 and 3 fenced", func() bool { img := b.Cluster.Image(); return !img.IsLive(2) && !img.IsLive(3) })
	resp = roundTrip[*kmsg.ElectLeadersResponse](t, b, electReq(2, 1, map[string][]int32{"u": {0, 1}}))
	got := electCodes(resp)
	if got["u/0"] != 0 || got["u/1"] != kerr.EligibleLeadersNotAvailable.Code {
		t.Fatalf("unclean election answered %v", got)
	}
	if p, _ := b.Cluster.Image().Partition("u", 0); p.Leader != 1 || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("after the unclean election u/0 is %+v", p)
	}

	resp = roundTrip[*kmsg.ElectLeadersResponse](t, b, electReq(2, 7, map[string][]int32{"u": {0}}))
	if resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("election type 7 answered top-level %d", resp.ErrorCode)
	}
}
