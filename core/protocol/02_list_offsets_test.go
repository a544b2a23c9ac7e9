package protocol

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/partition"
)

func listOffsetsReq(v int16, topic string, ts map[int32]int64) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version, req.ReplicaID = v, -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := int32(0); p < 8; p++ {
		if t, ok := ts[p]; ok {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, t
			rt.Partitions = append(rt.Partitions, rp)
		}
	}
	req.Topics = append(req.Topics, rt)
	return req
}

func TestListOffsetsEveryVersion(t *testing.T) {
	e := newDPEnv(t, nil)
	tp := e.topic("lo", 1, nil, nil)
	dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, tp, map[int32][]byte{0: dpBatch(dpBatchSpec{records: 2, timestamp: 1000})}))
	dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, tp, map[int32][]byte{0: dpBatch(dpBatchSpec{timestamp: 3000})}))
	dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, tp, map[int32][]byte{0: dpBatch(dpBatchSpec{timestamp: 2000})}))
	type answer struct {
		code      int16
		offset    int64
		timestamp int64
	}
	cases := []struct {
		ts   int64
		min  int16 // first version that defines it
		want answer
	}{
		{partition.TimestampEarliest, 1, answer{0, 0, -1}},
		{partition.TimestampLatest, 1, answer{0, 4, -1}},
		{partition.TimestampMax, 7, answer{0, 2, 3000}},
		{partition.TimestampEarliestLocal, 8, answer{0, 0, -1}},
		{partition.TimestampLatestTiered, 9, answer{0, -1, -1}},
		{partition.TimestampEarliestPendingUpload, 11, answer{0, -1, -1}},
		{-7, 99, answer{}},
		{1500, 1, answer{0, 2, 3000}},
		{2000, 1, answer{0, 2, 3000}},
		{3001, 1, answer{0, -1, -1}},
	}
	for v := int16(1); v <= 11; v++ {
		for _, c := range cases {
			resp := dpRoundTrip[*kmsg.ListOffsetsResponse](t, e.b, listOffsetsReq(v, "lo", map[int32]int64{0: c.ts}))
			sp := resp.Topics[0].Partitions[0]
			want := c.want
			if v < c.min {
				want = answer{kerr.UnsupportedVersion.Code, -1, -1}
			}
			if got := (answer{sp.ErrorCode, sp.Offset, sp.Timestamp}); got != want {
				t.Errorf("v%d ts %d: %+v, want %+v", v, c.ts, got, want)
			}
			if v >= 4 && want.code == 0 && want.offset >= 0 && sp.LeaderEpoch != 0 {
				t.Errorf("v%d ts %d: leader epoch %d", v, c.ts, sp.LeaderEpoch)
			}
		}
	}
}

func TestListOffsetsErrors(t *testing.T) {
	e := newDPEnv(t, nil)
	e.topic("le", 2, nil, nil)
	// A partition listed twice: INVALID_REQUEST for both.
	req := listOffsetsReq(5, "le", map[int32]int64{0: -1, 1: -1})
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, req.Topics[0].Partitions[0])
	resp := dpRoundTrip[*kmsg.ListOffsetsResponse](t, e.b, req)
	codes := []int16{}
	for _, p := range resp.Topics[0].Partitions {
		codes = append(codes, p.ErrorCode)
	}
	if codes[0] != kerr.InvalidRequest.Code || codes[1] != 0 || codes[2] != kerr.InvalidRequest.Code {
		t.Fatalf("duplicates: %v", codes)
	}
	for _, tc := range []struct {
		name  string
		topic string
		part  int32
		epoch int32
		want  *kerr.Error
	}{
		{"unknown topic", "nope", 0, -1, kerr.UnknownTopicOrPartition},
		{"unknown partition", "le", 5, -1, kerr.UnknownTopicOrPartition},
		{"unknown epoch", "le", 0, 3, kerr.UnknownLeaderEpoch},
		{"current epoch", "le", 0, 0, nil},
	} {
		req := listOffsetsReq(6, tc.topic, map[int32]int64{tc.part: -1})
		req.Topics[0].Partitions[0].CurrentLeaderEpoch = tc.epoch
		sp := dpRoundTrip[*kmsg.ListOffsetsResponse](t, e.b, req).Topics[0].Partitions[0]
		want := int16(0)
		if tc.want != nil {
			want = tc.want.Code
		}
		if sp.ErrorCode != want {
			t.Errorf("%s: %v", tc.name, kerr.ErrorForCode(sp.ErrorCode))
		}
	}
}
