package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaPythonGroups: kafka-python 2.0.2 (Debian's python3-kafka)
// consumes in a consumer group through the real binary with the default
// group settings (a 50-partition __consumer_offsets created on first use,
// the 3 s initial rebalance delay), commits and leaves; a second run of
// the group resumes after the committed offsets and reads only newer
// records; franz-go's kadm and kafka-python's KafkaAdminClient see the
// same group and offsets.
func TestKafkaPythonGroups(t *testing.T) {
	py := pythonWithKafka(t)
	p := startChronik(t, t.TempDir())
	p.waitReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic, group, parts = "python-groups", "python-group", 3
	createTopics(ctx, t, p.kafka, parts, topic)

	first := produceWithKgo(ctx, t, p.kafka, topic, parts, kgo.NoCompression(), "first", 30)
	got := jsonRecords(t, runClient(ctx, t, "", py, "testdata/groups_consumer.py", p.kafka, topic, group, fmt.Sprint(len(first))))
	sameRecords(t, "kafka-python group consumer, first run", got, first)

	second := produceWithKgo(ctx, t, p.kafka, topic, parts, kgo.NoCompression(), "second", 12)
	got = jsonRecords(t, runClient(ctx, t, "", py, "testdata/groups_consumer.py", p.kafka, topic, group, fmt.Sprint(len(second))))
	sameRecords(t, "kafka-python group consumer resuming after its commit", got, second)

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offsets, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil || offsets.Error() != nil {
		t.Fatalf("kadm FetchOffsets: %v %v", err, offsets.Error())
	}
	want := map[string]int64{}
	for part := range int32(parts) {
		want[fmt.Sprintf("%s/%d", topic, part)] = 14 // 10 + 4 records per partition
		if o, ok := offsets.Lookup(topic, part); !ok || o.At != 14 {
			t.Fatalf("kadm: committed offset of %s/%d is %+v (%v), want 14", topic, part, o, ok)
		}
	}

	var res struct {
		Listed       [][]string       `json:"listed"`
		State        string           `json:"state"`
		ProtocolType string           `json:"protocol_type"`
		Members      int              `json:"members"`
		Offsets      map[string]int64 `json:"offsets"`
	}
	out := runClient(ctx, t, "", py, "testdata/groups_admin.py", p.kafka, group)
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("admin output %q: %v", out, err)
	}
	if fmt.Sprint(res.Listed) != fmt.Sprint([][]string{{group, "consumer"}}) || res.State != "Empty" ||
		res.ProtocolType != "consumer" || res.Members != 0 || fmt.Sprint(res.Offsets) != fmt.Sprint(want) {
		t.Fatalf("kafka-python admin: %+v; want the group listed, Empty, offsets %v", res, want)
	}
}

// TestKcatGroups: kcat (librdkafka 2.0.2) consumes in a balanced consumer
// group (-G) through the real binary, commits on close, and a second run
// of the group resumes after the commit (librdkafka's FindCoordinator,
// JoinGroup, SyncGroup, Heartbeat, OffsetFetch, OffsetCommit and
// LeaveGroup versions).
func TestKcatGroups(t *testing.T) {
	kcat := kcatPath(t)
	p := startChronik(t, t.TempDir())
	p.waitReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic, group, parts = "kcat-groups", "kcat-group", 3
	createTopics(ctx, t, p.kafka, parts, topic)
	consume := func() []clientRecord {
		out := runClient(ctx, t, "", kcat, "-b", p.kafka, "-G", group, "-X", "auto.offset.reset=earliest", "-e", "-q",
			"-f", `{"partition":%p,"offset":%o,"key":"%k","value":"%s"}\n`, topic)
		return jsonRecords(t, out)
	}
	first := produceWithKgo(ctx, t, p.kafka, topic, parts, kgo.NoCompression(), "first", 30)
	sameRecords(t, "kcat group consumer, first run", consume(), first)
	second := produceWithKgo(ctx, t, p.kafka, topic, parts, kgo.NoCompression(), "second", 9)
	sameRecords(t, "kcat group consumer resuming after its commit", consume(), second)
}
