package partition

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chronik-go/chronik/core/topicconfig"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// scrape gathers reg into "name{label=value,...}" -> value.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestCollector: the partition collector reports the hosted and led
// replicas, the under-replicated and under-min-ISR ones, and each replica's
// log size and offsets as the partitions hold them, at scrape time.
func TestCollector(t *testing.T) {
	e := newEnv(t, nil)
	startCluster(t, e.store, 2) // a second live broker for a replicated topic
	e.waitBroker(2)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(e.m))

	if _, err := e.cl.CreateTopic(testCtx(t), "plain", -1, -1, map[int32][]int32{0: {1}, 1: {1}}, nil); err != nil {
		t.Fatalf("CreateTopic plain: %v", err)
	}
	e.sync()
	p0 := e.leader("plain", 0)
	var size int64
	for i := range 3 {
		b := makeBatch(plain(2))
		size += int64(len(b))
		if res := mustAppend(t, p0, b); res.BaseOffset != int64(2*i) {
			t.Fatalf("batch %d at %d", i, res.BaseOffset)
		}
	}

	// A replicated partition led here whose ISR lost the follower, with
	// min.insync.replicas=2: under-replicated and under min ISR.
	if _, err := e.cl.CreateTopic(testCtx(t), "rep", -1, -1, map[int32][]int32{0: {1, 2}},
		map[string]string{topicconfig.MinInsyncReplicas: "2"}); err != nil {
		t.Fatalf("CreateTopic rep: %v", err)
	}
	e.sync()
	eventually(t, "ISR of rep-0 shrunk to the leader", func() bool {
		part, ok := e.cl.Image().Partition("rep", 0)
		if !ok {
			return false
		}
		if len(part.ISR) == 1 {
			return true
		}
		// Shrink it ourselves if the leader has not yet; a stale epoch
		// (the leader shrank it first) is fine.
		_, _ = e.store.AlterPartition(testCtx(t), metadata.PartitionChange{Topic: "rep", Partition: 0,
			ExpectedPartitionEpoch: part.PartitionEpoch, Leader: 1, ISR: []int32{1}})
		return false
	})
	e.sync()
	eventually(t, "rep-0 led here with ISR [1]", func() bool {
		p, ok := e.m.Partition("rep", 0)
		if !ok {
			return false
		}
		st := p.State()
		return st.Leader && len(st.ISR) == 1
	})

	got := scrape(t, reg)
	want := map[string]float64{
		"chronik_partitions":                  3,
		"chronik_partition_leaders":           3,
		"chronik_partitions_offline":          0,
		"chronik_partitions_under_replicated": 1,
		"chronik_partitions_under_min_isr":    1,

		"chronik_log_size_bytes{partition=0,topic=plain}":           float64(size),
		"chronik_log_start_offset{partition=0,topic=plain}":         0,
		"chronik_log_end_offset{partition=0,topic=plain}":           6,
		"chronik_partition_high_watermark{partition=0,topic=plain}": 6,
		"chronik_partition_leader{partition=0,topic=plain}":         1,
		"chronik_partition_leader_epoch{partition=0,topic=plain}":   0,
		"chronik_log_size_bytes{partition=1,topic=plain}":           0,
		"chronik_log_end_offset{partition=1,topic=plain}":           0,
		"chronik_partition_leader{partition=0,topic=rep}":           1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if got["chronik_log_dir_size_bytes"] <= 0 || got["chronik_log_dir_usable_bytes"] <= 0 {
		t.Errorf("log dir size %v usable %v", got["chronik_log_dir_size_bytes"], got["chronik_log_dir_usable_bytes"])
	}
	if n := countPrefix(got, "chronik_log_end_offset{"); n != 3 {
		t.Errorf("%d log end offset series, want one per hosted replica (3)", n)
	}

	// Read live at scrape time: a deleted topic's replicas leave.
	if err := e.cl.DeleteTopic(testCtx(t), "plain"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	e.sync()
	got = scrape(t, reg)
	if got["chronik_partitions"] != 1 || got["chronik_partition_leaders"] != 1 || countPrefix(got, "chronik_log_end_offset{") != 1 {
		t.Errorf("after deleting plain: partitions %v leaders %v, %d log end series",
			got["chronik_partitions"], got["chronik_partition_leaders"], countPrefix(got, "chronik_log_end_offset{"))
	}
	if t.Failed() {
		t.Logf("scrape: %v", fmt.Sprint(got))
	}
}

func countPrefix(m map[string]float64, prefix string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}
