package protocol

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDeleteRecordsEveryVersion(t *testing.T) {
	e := newDPEnv(t, nil)
	tp := e.topic("dr", 1, nil, nil)
	for range 5 {
		dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, tp, map[int32][]byte{0: dpBatch(dpBatchSpec{records: 2})}))
	}
	del := func(v int16, topic string, part int32, offset int64) kmsg.DeleteRecordsResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.Version, req.TimeoutMillis = v, 1000
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = part, offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return dpRoundTrip[*kmsg.DeleteRecordsResponse](t, e.b, req).Topics[0].Partitions[0]
	}
	for _, tc := range []struct {
		v      int16
		topic  string
		part   int32
		offset int64
		code   *kerr.Error
		low    int64
	}{
		{0, "dr", 0, 3, nil, 3},
		{1, "dr", 0, 2, nil, 3},
		{2, "dr", 0, 11, kerr.OffsetOutOfRange, -1},
		{2, "dr", 0, -2, kerr.OffsetOutOfRange, -1},
		{2, "nope", 0, 1, kerr.UnknownTopicOrPartition, -1},
		{2, "dr", 1, 1, kerr.UnknownTopicOrPartition, -1},
		{2, "dr", 0, -1, nil, 10},
	} {
		sp := del(tc.v, tc.topic, tc.part, tc.offset)
		want := int16(0)
		if tc.code != nil {
			want = tc.code.Code
		}
		if sp.ErrorCode != want || sp.LowWatermark != tc.low || sp.Partition != tc.part {
			t.Errorf("v%d %s-%d before %d: %+v, want %v low %d", tc.v, tc.topic, tc.part, tc.offset, sp, tc.code, tc.low)
		}
	}
	resp := dpRoundTrip[*kmsg.FetchResponse](t, e.b, fetchReq(12, tp, map[int32]int64{0: 5}))
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch below the new start: %+v", p)
	}
}
