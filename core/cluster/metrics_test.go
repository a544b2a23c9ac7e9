package cluster

import (
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// restartingBackend is a backend that reports plugin restarts, as
// plugins.Host does.
type restartingBackend struct {
	metadata.Backend
	n atomic.Int32
}

func (r *restartingBackend) Restarts() int { return int(r.n.Load()) }

// scrapeCollector gathers reg into "name{label=value,...}" -> value.
func scrapeCollector(t *testing.T, reg *prometheus.Registry) map[string]float64 {
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
			v := m.GetGauge().GetValue()
			if c := m.GetCounter(); c != nil {
				v = c.GetValue()
			}
			out[key] = v
		}
	}
	return out
}

func checkSeries(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// TestCollector: the cluster collector reports the backend up with its
// identity, this broker registered and ready with its epoch, the image's
// revision, live brokers and topics; plugin restarts when the backend
// counts them; and the backend down (with the time it was last up kept)
// once it stops answering.
func TestCollector(t *testing.T) {
	s := newStore(t, 0)
	n := s.Node("node-a")
	t.Cleanup(func() { n.Close() })
	rb := &restartingBackend{Backend: n}
	c := startCluster(t, rb, 1, "")
	waitReady(t, c)
	if _, err := c.CreateTopic(testCtx(t), "t1", 2, 1, nil, nil); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	rb.n.Store(3)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(c, time.Second))

	before := time.Now()
	got := scrapeCollector(t, reg)
	epoch, _ := c.Epoch()
	checkSeries(t, got, map[string]float64{
		"chronik_metadata_backend_up":            1,
		"chronik_metadata_backend_leader_known":  1,
		"chronik_metadata_backend_members":       1,
		"chronik_metadata_plugin_restarts_total": 3,
		"chronik_metadata_registered":            1,
		"chronik_metadata_broker_epoch":          float64(epoch),
		"chronik_broker_ready":                   1,
		"chronik_metadata_image_revision":        float64(c.Image().Revision()),
		"chronik_metadata_live_brokers":          1,
		"chronik_metadata_topics":                1,
		"chronik_metadata_backend_info{backend=" + memory.Name + ",node=node-a,version=" + memory.Version + "}": 1,
	})
	if epoch <= 0 || c.Image().Revision() != s.Revision() {
		t.Errorf("epoch %d, image revision %d, store revision %d", epoch, c.Image().Revision(), s.Revision())
	}
	// A heartbeat has succeeded once the session is older than one
	// interval; poll the scrape until the series shows it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = scrapeCollector(t, reg)
		hb, ok := got["chronik_metadata_last_heartbeat_timestamp_seconds"]
		if ok {
			if d := float64(time.Now().UnixNano())/1e9 - hb; d < 0 || d > 10 {
				t.Errorf("last heartbeat %v s ago", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no chronik_metadata_last_heartbeat_timestamp_seconds after 10 s of heartbeats")
		}
		select {
		case <-time.After(testHeartbeat):
		case <-testCtx(t).Done():
			t.Fatal("test context done")
		}
	}
	lastUp := got["chronik_metadata_backend_last_up_timestamp_seconds"]
	if d := lastUp - float64(before.UnixNano())/1e9; d < -1 || d > 5 {
		t.Errorf("last up timestamp %v, scrape started at %v", lastUp, before)
	}

	// The backend stops answering (this node's handle is closed): down,
	// with the last-up time kept; the image this broker answers from is
	// still reported.
	n.Close()
	got = scrapeCollector(t, reg)
	checkSeries(t, got, map[string]float64{
		"chronik_metadata_backend_up":                        0,
		"chronik_metadata_backend_last_up_timestamp_seconds": lastUp,
		"chronik_metadata_plugin_restarts_total":             3,
	})
	if _, ok := got["chronik_metadata_backend_leader_known"]; ok {
		t.Errorf("leader_known reported while the backend is down")
	}
	if _, ok := got["chronik_metadata_image_revision"]; !ok {
		t.Errorf("no image revision while the backend is down")
	}

	// After Close the collector reports the backend down without waiting
	// for the probe timeout.
	c.Close()
	start := time.Now()
	got = scrapeCollector(t, reg)
	if got["chronik_metadata_backend_up"] != 0 || got["chronik_metadata_registered"] != 0 || got["chronik_broker_ready"] != 0 {
		t.Errorf("after Close: up %v registered %v ready %v", got["chronik_metadata_backend_up"], got["chronik_metadata_registered"], got["chronik_broker_ready"])
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("scrape after Close took %v", d)
	}
}
