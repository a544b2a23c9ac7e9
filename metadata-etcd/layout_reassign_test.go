package etcdmeta

import (
	"bytes"
	"slices"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestPartitionRecordReassignment: a partition's Adding and Removing are
// stored in its chunk ("a", "d") and read back; a partition without them
// stores neither key, and a chunk written before they existed decodes as
// partitions without a reassignment.
func TestPartitionRecordReassignment(t *testing.T) {
	p := metadata.Partition{Topic: "t", Partition: 1, Replicas: []int32{3, 2, 1}, Adding: []int32{3}, Removing: []int32{1},
		Leader: 2, LeaderEpoch: 4, ISR: []int32{2, 1}, PartitionEpoch: 9}
	plain := metadata.Partition{Topic: "t", Partition: 0, Replicas: []int32{1, 2}, Leader: 1, ISR: []int32{1, 2}, PartitionEpoch: 1}
	value := []byte(mustJSON(chunkRecord{Changed: 1, Partitions: []partitionRecord{toPartitionRecord(plain), toPartitionRecord(p)}}))
	if !bytes.Contains(value, []byte(`"a":[3],"d":[1]`)) || bytes.Count(value, []byte(`"a":`)) != 1 {
		t.Fatalf("chunk value %s: want adding/removing on partition 1 only", value)
	}
	c, err := decodeChunk(&mvccpb.KeyValue{Key: []byte("k"), Value: value})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Partitions[1].partition("t", 1)
	if !slices.Equal(got.Replicas, p.Replicas) || !slices.Equal(got.Adding, p.Adding) || !slices.Equal(got.Removing, p.Removing) {
		t.Fatalf("decoded %+v, want %+v", got, p)
	}
	if got := c.Partitions[0].partition("t", 0); got.Adding != nil || got.Removing != nil {
		t.Fatalf("plain partition decoded with a reassignment: %+v", got)
	}
	old := []byte(`{"changed":-1,"p":[{"r":[1,2],"l":1,"le":0,"i":[1,2],"pe":0}]}`)
	c, err = decodeChunk(&mvccpb.KeyValue{Key: []byte("k"), Value: old})
	if err != nil {
		t.Fatalf("old chunk: %v", err)
	}
	if got := c.Partitions[0].partition("t", 0); !slices.Equal(got.Replicas, []int32{1, 2}) || got.Adding != nil || got.Removing != nil {
		t.Fatalf("old chunk decoded as %+v", got)
	}
}
