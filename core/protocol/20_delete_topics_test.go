package protocol

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDeleteTopicsEveryVersion: each version deletes by name through the
// backend (gone from the image at once); v6 answers the id too.
func TestDeleteTopicsEveryVersion(t *testing.T) {
	_, b := oneBroker(t)
	for v := int16(0); v <= 6; v++ {
		name := fmt.Sprintf("doomed-v%d", v)
		tp := mustCreateTopic(t, b, name, 2, 1, nil, nil)
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.Version, req.TimeoutMillis = v, 5000
		if v < 6 {
			req.TopicNames = []string{name, "never-was"}
		} else {
			for _, n := range []string{name, "never-was"} {
				rt := kmsg.NewDeleteTopicsRequestTopic()
				rt.Topic = strp(n)
				req.Topics = append(req.Topics, rt)
			}
		}
		resp := roundTrip[*kmsg.DeleteTopicsResponse](t, b, req)
		if len(resp.Topics) != 2 {
			t.Fatalf("v%d: %d answers", v, len(resp.Topics))
		}
		ok, missing := resp.Topics[0], resp.Topics[1]
		if ok.Topic == nil || *ok.Topic != name || ok.ErrorCode != 0 {
			t.Fatalf("v%d: %+v", v, ok)
		}
		if v >= 6 && ok.TopicID != tp.ID {
			t.Fatalf("v%d: answered id %x, want %x", v, ok.TopicID, tp.ID)
		}
		if missing.ErrorCode != kerr.UnknownTopicOrPartition.Code || v >= 5 && missing.ErrorMessage == nil {
			t.Fatalf("v%d: unknown topic answered %+v", v, missing)
		}
		if _, still := b.Cluster.Image().Topic(name); still {
			t.Fatalf("v%d: topic still in the image", v)
		}
	}
}

// TestDeleteTopicsByID: v6 deletes by id; malformed, duplicate and
// unknown entries answer Kafka's errors.
func TestDeleteTopicsByID(t *testing.T) {
	_, b := oneBroker(t)
	byID := mustCreateTopic(t, b, "by-id", 1, 1, nil, nil)
	both := mustCreateTopic(t, b, "named-and-id", 1, 1, nil, nil)
	dup := mustCreateTopic(t, b, "dup", 1, 1, nil, nil)
	unknown := [16]byte{9}

	entry := func(name *string, id [16]byte) kmsg.DeleteTopicsRequestTopic {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic, rt.TopicID = name, id
		return rt
	}
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version, req.TimeoutMillis = 6, 5000
	req.Topics = []kmsg.DeleteTopicsRequestTopic{
		entry(nil, byID.ID),
		entry(nil, unknown),
		entry(strp("x"), byID.ID), // both a name and an id
		entry(nil, [16]byte{}),    // neither
		entry(strp("dup"), [16]byte{}),
		entry(strp("dup"), [16]byte{}),
		entry(strp("named-and-id"), [16]byte{}),
		entry(nil, both.ID),
	}
	resp := roundTrip[*kmsg.DeleteTopicsResponse](t, b, req)
	type answer struct {
		name string
		id   [16]byte
		code int16
	}
	var got []answer
	for _, rt := range resp.Topics {
		a := answer{id: rt.TopicID, code: rt.ErrorCode}
		if rt.Topic != nil {
			a.name = *rt.Topic
		}
		if rt.ErrorCode != 0 && rt.ErrorMessage == nil {
			t.Fatalf("error %d without a message", rt.ErrorCode)
		}
		got = append(got, a)
	}
	want := []answer{
		{"x", byID.ID, kerr.InvalidRequest.Code},
		{"", [16]byte{}, kerr.InvalidRequest.Code},
		{"by-id", byID.ID, 0},
		{"", unknown, kerr.UnknownTopicID.Code},
		{"dup", [16]byte{}, kerr.InvalidRequest.Code},
		{"named-and-id", both.ID, kerr.InvalidRequest.Code},
		{"named-and-id", both.ID, kerr.InvalidRequest.Code},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("answers\n%v\nwant\n%v", got, want)
	}
	img := b.Cluster.Image()
	if _, ok := img.Topic("by-id"); ok {
		t.Fatal("by-id not deleted")
	}
	for _, name := range []string{dup.Name, both.Name} {
		if _, ok := img.Topic(name); !ok {
			t.Fatalf("%s was deleted by a contradictory request", name)
		}
	}
}

// TestDeleteTopicsWithoutImage: a retriable error for every topic.
func TestDeleteTopicsWithoutImage(t *testing.T) {
	b := harnessBroker(t, 1, nil)
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version, req.TimeoutMillis, req.TopicNames = 5, 5000, []string{"a"}
	resp := roundTrip[*kmsg.DeleteTopicsResponse](t, b, req)
	if resp.Topics[0].ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("answered %d", resp.Topics[0].ErrorCode)
	}
}
