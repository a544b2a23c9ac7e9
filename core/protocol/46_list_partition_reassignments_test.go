package protocol

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// listReassignments lists through b (topics nil: all) and renders each
// partition as "topic/p replicas [..] adding [..] removing [..]", in
// answer order.
func listReassignments(t *testing.T, b *Broker, topics map[string][]int32) []string {
	t.Helper()
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	req.TimeoutMillis = 5000
	if topics != nil {
		names := make([]string, 0, len(topics))
		for name := range topics {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			rt := kmsg.NewListPartitionReassignmentsRequestTopic()
			rt.Topic, rt.Partitions = name, topics[name]
			req.Topics = append(req.Topics, rt)
		}
	}
	resp := roundTrip[*kmsg.ListPartitionReassignmentsResponse](t, b, req)
	if resp.ErrorCode != 0 {
		t.Fatalf("ListPartitionReassignments: error %d", resp.ErrorCode)
	}
	var out []string
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out = append(out, fmt.Sprintf("%s/%d replicas %v adding %v removing %v", rt.Topic, p.Partition, p.Replicas, p.AddingReplicas, p.RemovingReplicas))
		}
	}
	return out
}

// TestListPartitionReassignments: with none in progress the answer is
// empty; reassignments of several topics are all listed for null topics,
// only the named ones otherwise, and a named partition without one is left
// out; the reserved marker id never appears.
func TestListPartitionReassignments(t *testing.T) {
	st := harnessStore(t)
	b := harnessBroker(t, 1, harnessCluster(t, st, 1, "", true))
	keepAlive(t, st, registerBroker(t, st, b, 2, ""))
	mustCreateTopic(t, b, "a", -1, -1, map[int32][]int32{0: {1}, 1: {1}}, nil)
	mustCreateTopic(t, b, "b", -1, -1, map[int32][]int32{0: {2}}, nil)
	if list := listReassignments(t, b, nil); len(list) != 0 {
		t.Fatalf("listed %q with none in progress", list)
	}
	for _, r := range []struct {
		topic string
		p     int32
		to    []int32
	}{{"a", 1, []int32{2}}, {"b", 0, []int32{1, 2}}} {
		if code := reassignCode(t, b, reassignReq(0, true, r.topic, r.p, r.to)); code != 0 {
			t.Fatalf("reassigning %s/%d: %d", r.topic, r.p, code)
		}
	}
	want := []string{"a/1 replicas [2 1] adding [2] removing [1]", "b/0 replicas [1 2] adding [1] removing []"}
	if got := listReassignments(t, b, nil); !slices.Equal(got, want) {
		t.Fatalf("null topics: listed %q, want %q", got, want)
	}
	if got := listReassignments(t, b, map[string][]int32{"a": {0, 1}, "c": {0}}); !slices.Equal(got, want[:1]) {
		t.Fatalf("named: listed %q, want %q", got, want[:1])
	}
}
