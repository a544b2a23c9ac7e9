package protocol

import (
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribeLogDirsEveryVersion(t *testing.T) {
	e := newDPEnv(t, nil)
	a := e.topic("a", 2, nil, nil)
	e.topic("b", 1, nil, nil)
	dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, a, map[int32][]byte{1: dpBatch(dpBatchSpec{records: 3})}))
	for v := int16(1); v <= 5; v++ {
		// Every partition.
		resp := dpRoundTrip[*kmsg.DescribeLogDirsResponse](t, e.b, &kmsg.DescribeLogDirsRequest{Version: v})
		if resp.ErrorCode != 0 || len(resp.Dirs) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		d := resp.Dirs[0]
		if d.ErrorCode != 0 || d.Dir != e.b.Partitions.DataDir() || !filepath.IsAbs(d.Dir) {
			t.Errorf("v%d: dir %+v", v, d)
		}
		if v >= 4 && (d.TotalBytes <= 0 || d.UsableBytes < 0 || d.UsableBytes > d.TotalBytes) {
			t.Errorf("v%d: volume %d/%d", v, d.UsableBytes, d.TotalBytes)
		}
		if len(d.Topics) != 2 || d.Topics[0].Topic != "a" || len(d.Topics[0].Partitions) != 2 || d.Topics[1].Topic != "b" {
			t.Fatalf("v%d: topics %+v", v, d.Topics)
		}
		p0, p1 := d.Topics[0].Partitions[0], d.Topics[0].Partitions[1]
		if p0.Partition != 0 || p0.Size != 0 || p1.Partition != 1 || p1.Size <= 0 || p1.OffsetLag != 0 || p1.IsFuture {
			t.Errorf("v%d: partitions %+v", v, d.Topics[0].Partitions)
		}
		// Only what is asked for; unknown ones are left out.
		req := &kmsg.DescribeLogDirsRequest{Version: v, Topics: []kmsg.DescribeLogDirsRequestTopic{{Topic: "a", Partitions: []int32{1, 7}}, {Topic: "zz", Partitions: []int32{0}}}}
		d = dpRoundTrip[*kmsg.DescribeLogDirsResponse](t, e.b, req).Dirs[0]
		if len(d.Topics) != 1 || d.Topics[0].Topic != "a" || len(d.Topics[0].Partitions) != 1 || d.Topics[0].Partitions[0].Partition != 1 {
			t.Errorf("v%d filtered: %+v", v, d.Topics)
		}
	}
	// A broker without a data path: no directory.
	resp := dpRoundTrip[*kmsg.DescribeLogDirsResponse](t, &Broker{Logger: dpLogger(t)}, &kmsg.DescribeLogDirsRequest{Version: 2})
	if len(resp.Dirs) != 0 {
		t.Fatalf("no partitions: %+v", resp)
	}
}
