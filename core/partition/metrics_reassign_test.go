package partition

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestCollectorReassignment: a partition whose reassignment is adding a
// replica that has not caught up yet is not under-replicated (its ISR is
// compared with the replicas minus the adding ones, as Kafka does); the
// same replica set without a reassignment in progress is.
func TestCollectorReassignment(t *testing.T) {
	e := newEnv(t, nil)
	startCluster(t, e.store, 2)
	e.waitBroker(2)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(e.m))
	if _, err := e.cl.CreateTopic(testCtx(t), "mv", -1, -1, map[int32][]int32{0: {1}}, nil); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	e.sync()
	e.leader("mv", 0)
	alter := func(adding []int32) {
		t.Helper()
		part, _ := e.cl.Image().Partition("mv", 0)
		if _, err := e.store.AlterPartition(testCtx(t), metadata.PartitionChange{Topic: "mv", Partition: 0, ExpectedPartitionEpoch: part.PartitionEpoch,
			Leader: 1, ISR: []int32{1}, Replicas: []int32{1, 2}, Adding: adding}); err != nil {
			t.Fatalf("AlterPartition: %v", err)
		}
		e.sync()
		eventually(t, "mv-0 applied with replicas [1 2]", func() bool {
			st := e.leader("mv", 0).State()
			part, _ := e.cl.Image().Partition("mv", 0)
			return slices.Equal(st.Replicas, []int32{1, 2}) && slices.Equal(part.Adding, adding)
		})
	}
	// Growing from [1] to [1 2]: broker 2 is being added and has not
	// caught up (it does not run here).
	alter([]int32{2})
	if got := scrape(t, reg)["chronik_partitions_under_replicated"]; got != 0 {
		t.Errorf("under-replicated during the reassignment = %v, want 0", got)
	}
	// The same replicas with no reassignment in progress: broker 2 is out
	// of the ISR.
	alter(nil)
	if got := scrape(t, reg)["chronik_partitions_under_replicated"]; got != 1 {
		t.Errorf("under-replicated after the reassignment = %v, want 1", got)
	}
}
