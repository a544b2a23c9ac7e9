package protocol

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestOffsetForLeaderEpochEveryVersion(t *testing.T) {
	e := newDPEnv(t, nil)
	tp := e.topic("ofle", 1, nil, nil)
	dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, tp, map[int32][]byte{0: dpBatch(dpBatchSpec{records: 4})}))
	ask := func(v int16, topic string, part, current, epoch int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.Version, req.ReplicaID = v, -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = part, current, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return dpRoundTrip[*kmsg.OffsetForLeaderEpochResponse](t, e.b, req).Topics[0].Partitions[0]
	}
	for v := int16(2); v <= 4; v++ {
		for _, tc := range []struct {
			topic          string
			part, cur, ask int32
			code           *kerr.Error
			epoch          int32
			end            int64
		}{
			{"ofle", 0, -1, 0, nil, 0, 4},
			{"ofle", 0, 0, 0, nil, 0, 4},
			{"ofle", 0, -1, 1, nil, -1, -1},
			{"ofle", 0, 1, 0, kerr.UnknownLeaderEpoch, -1, -1},
			{"nope", 0, -1, 0, kerr.UnknownTopicOrPartition, -1, -1},
		} {
			sp := ask(v, tc.topic, tc.part, tc.cur, tc.ask)
			want := int16(0)
			if tc.code != nil {
				want = tc.code.Code
			}
			if sp.ErrorCode != want || sp.LeaderEpoch != tc.epoch || sp.EndOffset != tc.end {
				t.Errorf("v%d %+v: %+v", v, tc, sp)
			}
		}
	}
}
