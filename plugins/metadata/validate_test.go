package metadata

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidateTopicSpec(t *testing.T) {
	good := PartitionSpec{Replicas: []int32{1, 2}, Leader: 1, ISR: []int32{2, 1}}
	for _, tc := range []struct {
		name string
		spec TopicSpec
		want string // "" for valid, else a part of the error text
	}{
		{"valid", TopicSpec{Name: "t", ID: TopicID{1}, Partitions: []PartitionSpec{good, {Replicas: []int32{3}, Leader: NoLeader}}}, ""},
		{"empty name", TopicSpec{ID: TopicID{1}, Partitions: []PartitionSpec{good}}, "empty name"},
		{"zero id", TopicSpec{Name: "t", Partitions: []PartitionSpec{good}}, "zero topic id"},
		{"no partitions", TopicSpec{Name: "t", ID: TopicID{1}}, "no partitions"},
		{"no replicas", TopicSpec{Name: "t", ID: TopicID{1}, Partitions: []PartitionSpec{good, {Leader: NoLeader}}}, "partition 1: no replicas"},
		{"negative replica", TopicSpec{Name: "t", ID: TopicID{1}, Partitions: []PartitionSpec{{Replicas: []int32{-1}, Leader: NoLeader}}}, "negative replica -1"},
		{"duplicate replica", TopicSpec{Name: "t", ID: TopicID{1}, Partitions: []PartitionSpec{{Replicas: []int32{1, 1}, Leader: 1}}}, "duplicate replica 1"},
		{"leader not a replica", TopicSpec{Name: "t", ID: TopicID{1}, Partitions: []PartitionSpec{{Replicas: []int32{1}, Leader: 2}}}, "leader 2 is not a replica"},
		{"ISR not replicas", TopicSpec{Name: "t", ID: TopicID{1}, Partitions: []PartitionSpec{{Replicas: []int32{1}, Leader: 1, ISR: []int32{3}}}}, "ISR member 3 is not a replica"},
		{"duplicate ISR", TopicSpec{Name: "t", ID: TopicID{1}, Partitions: []PartitionSpec{{Replicas: []int32{1}, Leader: 1, ISR: []int32{1, 1}}}}, "duplicate ISR member 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateTopicSpec(tc.spec)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("ValidateTopicSpec: %v", err)
			case tc.want == "":
			case err == nil:
				t.Fatalf("ValidateTopicSpec: nil, want %q", tc.want)
			case !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("ValidateTopicSpec: %v, want ErrInvalid with %q", err, tc.want)
			}
		})
	}
}

func TestValidateNewPartitions(t *testing.T) {
	if err := ValidateNewPartitions("t", []PartitionSpec{{Replicas: []int32{1}, Leader: 1}}); err != nil {
		t.Fatalf("valid partitions: %v", err)
	}
	for _, parts := range [][]PartitionSpec{nil, {{Replicas: []int32{1}, Leader: 2}}, {{Replicas: []int32{1}, Leader: 1}, {Leader: NoLeader}}} {
		if err := ValidateNewPartitions("t", parts); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateNewPartitions(%v) = %v, want ErrInvalid", parts, err)
		}
	}
}

func TestValidateAssignment(t *testing.T) {
	if err := ValidateAssignment([]int32{1, 2}, NoLeader, nil); err != nil {
		t.Fatalf("valid assignment: %v", err)
	}
	if err := ValidateAssignment([]int32{1, 2}, 3, nil); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "leader 3 is not a replica") {
		t.Fatalf("leader outside the replicas: %v", err)
	}
}

func TestValidateChange(t *testing.T) {
	cur := Partition{Topic: "t", Replicas: []int32{3, 1, 2}, Adding: []int32{3}, Removing: []int32{2}, Leader: 1, ISR: []int32{1, 2}}
	// nil Replicas keeps all three.
	r, a, d, err := ValidateChange(cur, PartitionChange{Topic: "t", Leader: 1, ISR: []int32{1}})
	if err != nil || !slices.Equal(r, cur.Replicas) || !slices.Equal(a, cur.Adding) || !slices.Equal(d, cur.Removing) {
		t.Fatalf("ISR change: %v %v %v %v, want the current reassignment kept", r, a, d, err)
	}
	// Replicas without Adding/Removing clears them.
	r, a, d, err = ValidateChange(cur, PartitionChange{Topic: "t", Replicas: []int32{3, 1}, Leader: 1, ISR: []int32{1}})
	if err != nil || !slices.Equal(r, []int32{3, 1}) || a != nil || d != nil {
		t.Fatalf("completion: %v %v %v %v", r, a, d, err)
	}
	// A new reassignment.
	r, a, d, err = ValidateChange(cur, PartitionChange{Topic: "t", Replicas: []int32{4, 1, 2}, Adding: []int32{4}, Removing: []int32{2}, Leader: 1, ISR: []int32{1}})
	if err != nil || !slices.Equal(r, []int32{4, 1, 2}) || !slices.Equal(a, []int32{4}) || !slices.Equal(d, []int32{2}) {
		t.Fatalf("new reassignment: %v %v %v %v", r, a, d, err)
	}
	for _, tc := range []struct {
		name string
		ch   PartitionChange
		want string
	}{
		{"adding without replicas", PartitionChange{Leader: 1, Adding: []int32{3}}, "without a new replica set"},
		{"adding not a replica", PartitionChange{Replicas: []int32{1, 2}, Leader: 1, Adding: []int32{3}}, "adding replica 3 is not a replica"},
		{"removing not a replica", PartitionChange{Replicas: []int32{1, 2}, Leader: 1, Removing: []int32{3}}, "removing replica 3 is not a replica"},
		{"duplicate adding", PartitionChange{Replicas: []int32{1, 2}, Leader: 1, Adding: []int32{2, 2}}, "duplicate adding replica 2"},
		{"duplicate removing", PartitionChange{Replicas: []int32{1, 2}, Leader: 1, Removing: []int32{2, 2}}, "duplicate removing replica 2"},
		{"both", PartitionChange{Replicas: []int32{1, 2}, Leader: 1, Adding: []int32{2}, Removing: []int32{2}}, "both adding and removing"},
		{"leader", PartitionChange{Replicas: []int32{1, 2}, Leader: 5}, "leader 5 is not a replica"},
	} {
		if _, _, _, err := ValidateChange(cur, tc.ch); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalid with %q", tc.name, err, tc.want)
		}
	}
}
