package protocol

import "github.com/chronik-go/chronik/core/cluster"

// requestedPartitions flattens the topic list of an admin request
// (ElectLeaders, ListPartitionReassignments) into topic partitions. A nil
// list, which those requests use for "every partition", gives nil; an
// empty one gives an empty, non-nil slice.
func requestedPartitions[T any](topics []T, name func(*T) string, partitions func(*T) []int32) []cluster.TopicPartition {
	if topics == nil {
		return nil
	}
	out := []cluster.TopicPartition{}
	for i := range topics {
		for _, p := range partitions(&topics[i]) {
			out = append(out, cluster.TopicPartition{Topic: name(&topics[i]), Partition: p})
		}
	}
	return out
}
