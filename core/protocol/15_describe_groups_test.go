package protocol_test

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupAdminKadm: kadm lists, describes and deletes groups, commits
// simple offsets, fetches and deletes offsets, with Kafka's errors
// (NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, GROUP_SUBSCRIBED_TO_TOPIC).
func TestGroupAdminKadm(t *testing.T) {
	_, b := oneGroupBroker(t)
	createTopic(t, b.addr, "work", 2)
	createTopic(t, b.addr, "other", 1)
	produceN(t, b.addr, "work", "r", 10)
	adm := kadm.NewClient(e2eClient(t, b.addr))
	ctx := e2eCtx(t)

	// An active consumer group.
	s := &seen{counts: map[string]int{}}
	m := startMember(t, b.addr, "active", s)
	eventually(t, "active group stable", func() bool { return disjointCover(assignment(t, adm, "active"), 1, 2) })
	// The member records what it polled before it commits it: wait for
	// the commit too, not only for the records.
	eventually(t, "records consumed and committed", func() bool {
		if s.distinct() != 10 {
			return false
		}
		fetched, err := adm.FetchOffsets(ctx, "active")
		if err != nil || fetched.Error() != nil {
			return false
		}
		var sum int64
		fetched.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum == 10
	})

	// A simple group: offsets only.
	offs := kadm.Offsets{}
	offs.AddOffset("work", 0, 3, -1)
	offs.AddOffset("other", 0, 1, -1)
	if err := adm.CommitAllOffsets(ctx, "simple", offs); err != nil {
		t.Fatalf("simple commit: %v", err)
	}
	// The active group also committed an offset of a topic it does not
	// subscribe to (simple commit not allowed on a group with members:
	// use another group for that below).

	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	if g, ok := listed["active"]; !ok || g.ProtocolType != "consumer" || g.State != "Stable" {
		t.Fatalf("listed active: %+v %v (all: %v)", g, ok, listed.Groups())
	}
	if g, ok := listed["simple"]; !ok || g.ProtocolType != "" || g.State != "Empty" {
		t.Fatalf("listed simple: %+v %v", g, ok)
	}
	stable, err := adm.ListGroups(ctx, "Stable")
	if err != nil || len(stable) != 1 || stable["active"].Group != "active" {
		t.Fatalf("ListGroups(Stable): %v %v", stable.Groups(), err)
	}

	ds, err := adm.DescribeGroups(ctx, "active", "simple", "missing")
	if err != nil {
		t.Fatalf("DescribeGroups: %v", err)
	}
	if d := ds["active"]; d.State != "Stable" || d.Protocol == "" || len(d.Members) != 1 || d.Members[0].ClientHost == "" {
		t.Fatalf("describe active: %+v", d)
	}
	if d := ds["simple"]; d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("describe simple: %+v", d)
	}
	if d := ds["missing"]; !errors.Is(d.Err, kerr.GroupIDNotFound) && d.State != "Dead" {
		t.Fatalf("describe missing: %+v", d)
	}

	fetched, err := adm.FetchOffsets(ctx, "active")
	if err != nil || fetched.Error() != nil {
		t.Fatalf("FetchOffsets active: %v %v", err, fetched.Error())
	}
	var sum int64
	fetched.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != 10 {
		t.Fatalf("active committed %d records' offsets, want 10", sum)
	}

	// Deleting: an active group is not empty; its subscribed topic's
	// offsets cannot be deleted.
	del, err := adm.DeleteGroups(ctx, "active", "missing")
	if err != nil {
		t.Fatalf("DeleteGroups: %v", err)
	}
	if !errors.Is(del["active"].Err, kerr.NonEmptyGroup) || !errors.Is(del["missing"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("DeleteGroups: active %v missing %v", del["active"].Err, del["missing"].Err)
	}
	ts := kadm.TopicsSet{}
	ts.Add("work", 0)
	dres, err := adm.DeleteOffsets(ctx, "active", ts)
	if err != nil {
		t.Fatalf("DeleteOffsets active: %v", err)
	}
	if e := dres["work"][0]; !errors.Is(e, kerr.GroupSubscribedToTopic) {
		t.Fatalf("DeleteOffsets of a subscribed topic: %v", e)
	}

	// Simple group: delete one offset, then the group.
	ts = kadm.TopicsSet{}
	ts.Add("other", 0)
	dres, err = adm.DeleteOffsets(ctx, "simple", ts)
	if err != nil || dres.Error() != nil {
		t.Fatalf("DeleteOffsets simple: %v %v", err, dres.Error())
	}
	got, err := adm.FetchOffsets(ctx, "simple")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Lookup("other", 0); ok {
		t.Fatalf("deleted offset still there: %v", got)
	}
	if o, ok := got.Lookup("work", 0); !ok || o.At != 3 {
		t.Fatalf("kept offset: %+v %v", o, ok)
	}
	if _, err := adm.DeleteOffsets(ctx, "missing", ts); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("DeleteOffsets of a missing group: %v", err)
	}

	// The active group, once its member left, is Empty and can go.
	m.stop()
	eventually(t, "active group empty", func() bool {
		ds, err := adm.DescribeGroups(ctx, "active")
		return err == nil && ds["active"].State == "Empty"
	})
	del, err = adm.DeleteGroups(ctx, "active", "simple")
	if err != nil || del.Error() != nil {
		t.Fatalf("DeleteGroups of empty groups: %v %v", err, del.Error())
	}
	listed, err = adm.ListGroups(ctx)
	if err != nil || len(listed) != 0 {
		t.Fatalf("groups left after deletion: %v %v", listed.Groups(), err)
	}
	fetched, err = adm.FetchOffsets(ctx, "active")
	if err != nil || fetched.Error() != nil || len(offsetList(fetched)) != 0 {
		t.Fatalf("offsets of the deleted group: %v %v %v", offsetList(fetched), err, fetched.Error())
	}
	// A new consumer of the deleted group starts over (no committed
	// offsets: from the start with the default reset policy).
	c := e2eClient(t, b.addr, kgo.ConsumerGroup("active"), kgo.ConsumeTopics("work"), kgo.HeartbeatInterval(100*time.Millisecond))
	if n := len(consumeUntil(t, c, 10)); n != 10 {
		t.Fatalf("re-created group read %d records", n)
	}
}
