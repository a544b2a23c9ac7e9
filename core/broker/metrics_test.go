package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// scrapeMetrics GETs /metrics and returns each sample line's value by its
// series as printed ("name" or `name{label="value",...}`).
func scrapeMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	code, body := httpGet(t, "http://"+addr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	out := map[string]float64{}
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsEndpoint: after producing through a real client, /metrics
// serves the hosted partitions, each partition's log size (the bytes of its
// segment files) and offsets, and the metadata backend's health and this
// broker's registration, alongside the request counters.
func TestMetricsEndpoint(t *testing.T) {
	st := newStore(t)
	b := startBroker(t, 1, st)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "metered"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	const n = 25
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "metered", Partition: 0, Value: fmt.Appendf(nil, "value-%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}

	// The partition Manager opens partitions in the background: wait
	// until it applied the store's revision (metered-1 open too).
	if err := b.parts.WaitRevision(ctx, st.Revision()); err != nil {
		t.Fatalf("WaitRevision: %v", err)
	}
	p0, ok := b.parts.Partition("metered", 0)
	if !ok {
		t.Fatal("metered-0 not hosted")
	}
	var onDisk int64
	logs, err := filepath.Glob(filepath.Join(p0.Dir(), "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("segment files of metered-0: %v %v", logs, err)
	}
	for _, f := range logs {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		onDisk += fi.Size()
	}

	// The image may trail the store by a revision for a moment.
	deadline := time.Now().Add(10 * time.Second)
	var got map[string]float64
	for {
		got = scrapeMetrics(t, b.HTTPAddr())
		if got["chronik_metadata_image_revision"] == float64(st.Revision()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("image revision %v, store at %d", got["chronik_metadata_image_revision"], st.Revision())
		}
		time.Sleep(20 * time.Millisecond)
	}
	epoch, _ := b.Cluster().Epoch()
	want := map[string]float64{
		"chronik_partitions":                                              2,
		"chronik_partition_leaders":                                       2,
		"chronik_partitions_offline":                                      0,
		"chronik_partitions_under_replicated":                             0,
		`chronik_log_size_bytes{partition="0",topic="metered"}`:           float64(onDisk),
		`chronik_log_size_bytes{partition="1",topic="metered"}`:           0,
		`chronik_log_start_offset{partition="0",topic="metered"}`:         0,
		`chronik_log_end_offset{partition="0",topic="metered"}`:           n,
		`chronik_log_end_offset{partition="1",topic="metered"}`:           0,
		`chronik_partition_high_watermark{partition="0",topic="metered"}`: n,
		`chronik_partition_leader{partition="0",topic="metered"}`:         1,

		"chronik_metadata_backend_up":   1,
		"chronik_metadata_registered":   1,
		"chronik_metadata_broker_epoch": float64(epoch),
		"chronik_broker_ready":          1,
		"chronik_metadata_live_brokers": 1,
		"chronik_metadata_topics":       1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	// A produce may be retried (a leader not open yet right after creation).
	if g := got[`chronik_requests_total{api="Produce"}`]; g < n {
		t.Errorf("%v Produce requests counted, %d sent", g, n)
	}
	if onDisk == 0 || epoch <= 0 {
		t.Errorf("segment bytes %d, epoch %d", onDisk, epoch)
	}
	if t.Failed() {
		_, body := httpGet(t, "http://"+b.HTTPAddr()+"/metrics")
		t.Logf("/metrics:\n%s", body)
	}
}
