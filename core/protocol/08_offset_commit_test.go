package protocol_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupOffsetsSurviveRestart: offsets committed by a group consumer
// and by a simple (group-less) commit are written to __consumer_offsets
// and are back after the broker restarts on the same data directory; a
// new consumer resumes after them.
func TestGroupOffsetsSurviveRestart(t *testing.T) {
	st := e2eStore(t)
	dir := t.TempDir()
	b := startGroupBroker(t, st, 1, dir, "", groupTestConfig())
	createTopic(t, b.addr, "orders", 4)
	produceN(t, b.addr, "orders", "a", 40)

	opts := []kgo.Opt{kgo.ConsumerGroup("resume"), kgo.ConsumeTopics("orders"), kgo.DisableAutoCommit(),
		kgo.SessionTimeout(3 * time.Second), kgo.HeartbeatInterval(100 * time.Millisecond)}
	c1 := e2eClient(t, b.addr, opts...)
	consumeUntil(t, c1, 40)
	if err := c1.CommitUncommittedOffsets(e2eCtx(t)); err != nil {
		t.Fatalf("commit: %v", err)
	}
	c1.Close()
	adm := kadm.NewClient(e2eClient(t, b.addr))
	simple := kadm.Offsets{}
	simple.AddOffset("orders", 2, 7, 3)
	if err := adm.CommitAllOffsets(e2eCtx(t), "simple", simple); err != nil {
		t.Fatalf("simple commit: %v", err)
	}
	before, err := adm.FetchOffsets(e2eCtx(t), "resume")
	if err != nil || before.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, before.Error())
	}
	var total int64
	before.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 40 {
		t.Fatalf("committed offsets sum to %d, want 40: %v", total, before)
	}

	b.stop()
	b = startGroupBroker(t, st, 1, dir, b.addr, groupTestConfig())

	adm = kadm.NewClient(e2eClient(t, b.addr))
	var after kadm.OffsetResponses
	eventually(t, "offsets reloaded", func() bool {
		after, err = adm.FetchOffsets(e2eCtx(t), "resume")
		return err == nil && after.Error() == nil
	})
	if !slices.Equal(offsetList(before), offsetList(after)) {
		t.Fatalf("offsets after restart %v, before %v", offsetList(after), offsetList(before))
	}
	got, err := adm.FetchOffsets(e2eCtx(t), "simple")
	if err != nil || got.Error() != nil {
		t.Fatalf("fetch simple offsets: %v %v", err, got.Error())
	}
	if o, ok := got.Lookup("orders", 2); !ok || o.At != 7 || o.LeaderEpoch != 3 {
		t.Fatalf("simple offset after restart: %+v %v", o, ok)
	}
	described, err := adm.DescribeGroups(e2eCtx(t), "resume")
	if err != nil || described["resume"].State != "Empty" || described["resume"].ProtocolType != "consumer" {
		t.Fatalf("group after restart: %+v %v", described["resume"], err)
	}

	produceN(t, b.addr, "orders", "b", 8)
	c2 := e2eClient(t, b.addr, opts...)
	if got := consumeUntil(t, c2, 8); !slices.Equal(sorted(got), values("b", 0, 8)) {
		t.Fatalf("consumer after restart read %v", sorted(got))
	}
}

func offsetList(r kadm.OffsetResponses) []string {
	var out []string
	r.Each(func(o kadm.OffsetResponse) {
		out = append(out, fmt.Sprintf("%s/%d@%d", o.Topic, o.Partition, o.At))
	})
	slices.Sort(out)
	return out
}
