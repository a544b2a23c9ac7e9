package cluster

import (
	"slices"
	"testing"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestReassignmentEncoding: the replica list of a reassignment decodes to
// the target, the original (in its order), adding and removing, for
// overlapping, disjoint, growing and shrinking sets; a plain replica list
// is no reassignment.
func TestReassignmentEncoding(t *testing.T) {
	cases := []struct {
		original, target, full, adding, removing []int32
	}{
		{[]int32{1, 2}, []int32{2, 3}, []int32{2, 3, 1}, []int32{3}, []int32{1}},
		{[]int32{3, 1, 2}, []int32{4, 5}, []int32{4, 5, 3, 1, 2}, []int32{4, 5}, []int32{3, 1, 2}},
		{[]int32{5, 1}, []int32{1, 5, 7}, []int32{1, 5, 7}, []int32{7}, nil},
		{[]int32{8, 7, 6, 5, 4, 3, 2, 1}, []int32{1, 2, 3}, []int32{1, 2, 3, 8, 7, 6, 5, 4}, nil, []int32{8, 7, 6, 5, 4}},
		{[]int32{2, 1, 3}, []int32{9, 8, 7, 6, 5, 4, 3, 1}, []int32{9, 8, 7, 6, 5, 4, 3, 1, 2}, []int32{9, 8, 7, 6, 5, 4}, []int32{2}},
	}
	for _, c := range cases {
		enc := encodeReassignment(c.original, c.target)
		if err := metadata.ValidateAssignment(enc, metadata.NoLeader, nil); err != nil {
			t.Fatalf("%v -> %v: encoded %v is not a valid assignment: %v", c.original, c.target, enc, err)
		}
		r, ok := DecodeReassignment(metadata.Partition{Topic: "t", Replicas: enc})
		if !ok {
			t.Fatalf("%v -> %v: %v does not decode", c.original, c.target, enc)
		}
		if !slices.Equal(r.Replicas, c.full) || !slices.Equal(r.Target, c.target) || !slices.Equal(r.Original, c.original) ||
			!slices.Equal(r.Adding, c.adding) || !slices.Equal(r.Removing, c.removing) {
			t.Errorf("%v -> %v: decoded %+v; want replicas %v, adding %v, removing %v", c.original, c.target, r, c.full, c.adding, c.removing)
		}
	}
	if r, ok := DecodeReassignment(metadata.Partition{Replicas: []int32{1, 2, 3}}); ok {
		t.Errorf("a plain replica list decodes as %+v", r)
	}
}
