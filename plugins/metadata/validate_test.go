package metadata

import (
	"errors"
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
