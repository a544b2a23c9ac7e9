package cluster

import (
	"slices"
	"testing"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestReassignmentState: the change starting a reassignment from original
// to target is Kafka's (replicas target ++ removing, adding, removing), is
// accepted by the metadata contract, and reads back as the target, the
// original (Replicas − Adding, in that order), adding and removing, for
// overlapping, disjoint, growing and shrinking sets, with broker ids of
// any size; a partition without Adding/Removing has no reassignment.
func TestReassignmentState(t *testing.T) {
	cases := []struct {
		original, target, full, adding, removing, restored []int32
	}{
		{[]int32{1, 2}, []int32{2, 3}, []int32{2, 3, 1}, []int32{3}, []int32{1}, []int32{2, 1}},
		{[]int32{3, 1, 2}, []int32{4, 5}, []int32{4, 5, 3, 1, 2}, []int32{4, 5}, []int32{3, 1, 2}, []int32{3, 1, 2}},
		{[]int32{5, 1}, []int32{1, 5, 7}, []int32{1, 5, 7}, []int32{7}, nil, []int32{1, 5}},
		{[]int32{8, 7, 6, 5, 4, 3, 2, 1}, []int32{1, 2, 3}, []int32{1, 2, 3, 8, 7, 6, 5, 4}, nil, []int32{8, 7, 6, 5, 4}, []int32{1, 2, 3, 8, 7, 6, 5, 4}},
		{[]int32{2, 1, 3}, []int32{9, 8, 7, 6, 5, 4, 3, 1, 10}, []int32{9, 8, 7, 6, 5, 4, 3, 1, 10, 2}, []int32{9, 8, 7, 6, 5, 4, 10}, []int32{2}, []int32{3, 1, 2}},
		{[]int32{1 << 30, 2}, []int32{2, 1<<31 - 1}, []int32{2, 1<<31 - 1, 1 << 30}, []int32{1<<31 - 1}, []int32{1 << 30}, []int32{2, 1 << 30}},
	}
	for _, c := range cases {
		ch := metadata.PartitionChange{Topic: "t", Leader: metadata.NoLeader}
		reassignmentChange(&ch, c.original, c.target)
		cur := metadata.Partition{Topic: "t", Replicas: c.original, Leader: metadata.NoLeader}
		replicas, adding, removing, err := metadata.ValidateChange(cur, ch)
		if err != nil {
			t.Fatalf("%v -> %v: change %+v is refused: %v", c.original, c.target, ch, err)
		}
		p := metadata.Partition{Topic: "t", Replicas: replicas, Adding: adding, Removing: removing}
		r, ok := ReassignmentOf(p)
		if !ok {
			t.Fatalf("%v -> %v: %+v is no reassignment", c.original, c.target, p)
		}
		if !slices.Equal(r.Replicas, c.full) || !slices.Equal(r.Target, c.target) || !slices.Equal(r.Original, c.restored) ||
			!slices.Equal(r.Adding, c.adding) || !slices.Equal(r.Removing, c.removing) {
			t.Errorf("%v -> %v: read %+v; want replicas %v, original %v, adding %v, removing %v", c.original, c.target, r, c.full, c.restored, c.adding, c.removing)
		}
		if got := TargetReplicas(p); !slices.Equal(got, c.target) {
			t.Errorf("%v -> %v: TargetReplicas %v", c.original, c.target, got)
		}
	}
	if r, ok := ReassignmentOf(metadata.Partition{Replicas: []int32{1, 2, 3}}); ok {
		t.Errorf("a plain partition reads as %+v", r)
	}
	if got := TargetReplicas(metadata.Partition{Replicas: []int32{3, 1}}); !slices.Equal(got, []int32{3, 1}) {
		t.Errorf("TargetReplicas of a plain partition: %v", got)
	}
}
