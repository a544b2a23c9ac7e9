package broker

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestClusterStatusReassigning: a partition with a reassignment in
// progress (Adding/Removing in its metadata) is listed under
// reassigning_partitions with its replicas, adding and removing; the
// other partitions are not, and the list is gone once the reassignment's
// fields are cleared.
func TestClusterStatusReassigning(t *testing.T) {
	st := newStore(t)
	b := startBroker(t, 1, st)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	other := st.Node("other")
	if _, err := other.RegisterBroker(ctx, metadata.BrokerRegistration{ID: 7, IncarnationID: "inc-7",
		Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "10.0.0.7", Port: 9097}}}); err != nil {
		t.Fatal(err)
	}
	tp, err := other.CreateTopic(ctx, metadata.TopicSpec{Name: "r", ID: metadata.TopicID{2},
		Partitions: []metadata.PartitionSpec{{Replicas: []int32{1}, Leader: 1}, {Replicas: []int32{1}, Leader: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := other.AlterPartition(ctx, metadata.PartitionChange{Topic: "r", Partition: 1, ExpectedPartitionEpoch: tp.Partitions[1].PartitionEpoch,
		Leader: 1, ISR: []int32{1}, Replicas: []int32{7, 1}, Adding: []int32{7}, Removing: []int32{1}})
	if err != nil {
		t.Fatal(err)
	}
	get := func() ClusterStatus {
		t.Helper()
		code, body := httpGet(t, "http://"+b.HTTPAddr()+"/v1/cluster")
		var cs ClusterStatus
		if code != 200 || json.Unmarshal([]byte(body), &cs) != nil {
			t.Fatalf("GET /v1/cluster = %d %s", code, body)
		}
		return cs
	}
	poll := func(what string, ok func(ClusterStatus) bool) ClusterStatus {
		t.Helper()
		for {
			cs := get()
			if ok(cs) {
				return cs
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: never; last status %+v", what, cs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	cs := poll("reassignment shown", func(cs ClusterStatus) bool { return len(cs.Reassigning) > 0 })
	want := ReassigningPartition{Topic: "r", Partition: 1, Leader: 1, Replicas: []int32{7, 1}, ISR: []int32{1}, Adding: []int32{7}, Removing: []int32{1}}
	if len(cs.Reassigning) != 1 || !sameReassigning(cs.Reassigning[0], want) {
		t.Fatalf("reassigning partitions = %+v, want [%+v]", cs.Reassigning, want)
	}
	if _, err := other.AlterPartition(ctx, metadata.PartitionChange{Topic: "r", Partition: 1, ExpectedPartitionEpoch: p.PartitionEpoch,
		Leader: 1, ISR: []int32{1}, Replicas: []int32{1}}); err != nil {
		t.Fatal(err)
	}
	poll("reassignment gone after cancelling", func(cs ClusterStatus) bool { return len(cs.Reassigning) == 0 })
}

func sameReassigning(a, b ReassigningPartition) bool {
	return a.Topic == b.Topic && a.Partition == b.Partition && a.Leader == b.Leader && slices.Equal(a.Replicas, b.Replicas) &&
		slices.Equal(a.ISR, b.ISR) && slices.Equal(a.Adding, b.Adding) && slices.Equal(a.Removing, b.Removing)
}
