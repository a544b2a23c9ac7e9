package protocol

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/partition"
)

// DescribeLogDirs (key 35): versions 1-5.
//
// Behaviour: this broker has one log directory (the partition Manager's
// data directory, an absolute path). It lists the hosted replicas, leaders
// and followers, with the size of their segment files: every hosted replica
// when topics is null, else the requested ones this broker hosts (others
// are left out, as Kafka does). Offset lag is 0 and no replica is a future
// one (no replica moves between directories). v4+: the file system's total
// and usable bytes (-1 when unknown). v5: the directory is never cordoned.
//
// Version notes: version 0 is not served, as in Kafka 4.0 (KIP-896); v1
// adds throttling, v2 is flexible, v3 a top-level error code, v4 the volume
// sizes, v5 IsCordoned (KIP-1066).

func init() {
	Register(API{Key: 35, MinVersion: 1, MaxVersion: 5, Handle: handleDescribeLogDirs})
}

func handleDescribeLogDirs(_ context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.DescribeLogDirsRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: DescribeLogDirs handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if b.Partitions == nil {
		return resp, nil
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.Partitions.DataDir()
	if total, usable, ok := b.Partitions.DiskUsage(); ok {
		dir.TotalBytes, dir.UsableBytes = total, usable
	}
	var wanted map[string][]int32
	if req.Topics != nil {
		wanted = make(map[string][]int32, len(req.Topics))
		for _, t := range req.Topics {
			wanted[t.Topic] = append(wanted[t.Topic], t.Partitions...)
		}
	}
	var cur *kmsg.DescribeLogDirsResponseDirTopic
	for _, p := range b.Partitions.Partitions() { // sorted by topic, partition
		if wanted != nil && !slices.Contains(wanted[p.Topic()], p.Index()) {
			continue
		}
		if cur == nil || cur.Topic != p.Topic() {
			dir.Topics = append(dir.Topics, kmsg.NewDescribeLogDirsResponseDirTopic())
			cur = &dir.Topics[len(dir.Topics)-1]
			cur.Topic = p.Topic()
		}
		cur.Partitions = append(cur.Partitions, describeLogDir(p))
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}

func describeLogDir(p *partition.Partition) kmsg.DescribeLogDirsResponseDirTopicPartition {
	dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
	dp.Partition = p.Index()
	dp.Size = p.Size()
	return dp
}
