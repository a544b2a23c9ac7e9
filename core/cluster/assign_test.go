package cluster

import (
	"fmt"
	"slices"
	"testing"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func brokersWithRacks(racks ...string) []metadata.Broker {
	bs := make([]metadata.Broker, len(racks))
	for i, r := range racks {
		bs[i] = metadata.Broker{ID: int32(i + 1), Rack: r}
	}
	return bs
}

// checkPlacement checks that every partition has rf distinct replicas of
// the given brokers and returns how many partitions each broker leads and
// how many replicas it holds.
func checkPlacement(t *testing.T, brokers []metadata.Broker, placed [][]int32, n, rf int) (leads, holds map[int32]int) {
	t.Helper()
	if len(placed) != n {
		t.Fatalf("%d partitions placed, want %d", len(placed), n)
	}
	leads, holds = map[int32]int{}, map[int32]int{}
	for p, r := range placed {
		if len(r) != rf {
			t.Fatalf("partition %d: replicas %v, want %d", p, r, rf)
		}
		for j, id := range r {
			if !slices.ContainsFunc(brokers, func(b metadata.Broker) bool { return b.ID == id }) {
				t.Fatalf("partition %d: replica %d is not a given broker", p, id)
			}
			if slices.Contains(r[:j], id) {
				t.Fatalf("partition %d: replicas %v repeat %d", p, r, id)
			}
			holds[id]++
		}
		leads[r[0]]++
	}
	return leads, holds
}

func spread(m map[int32]int, brokers []metadata.Broker) (lo, hi int) {
	lo = -1
	for _, b := range brokers {
		v := m[b.ID]
		if lo < 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	return lo, hi
}

func TestAssignRoundRobinSpreadsLeadersAndReplicas(t *testing.T) {
	for _, nb := range []int{1, 2, 3, 5} {
		for rf := 1; rf <= min(nb, 3); rf++ {
			for start := range nb {
				for shift := range nb {
					brokers := brokersWithRacks(make([]string, nb)...)
					n := 4 * nb
					t.Run(fmt.Sprintf("brokers=%d/rf=%d/start=%d/shift=%d", nb, rf, start, shift), func(t *testing.T) {
						placed := assignReplicas(brokers, n, rf, 0, start, shift)
						leads, holds := checkPlacement(t, brokers, placed, n, rf)
						if lo, hi := spread(leads, brokers); lo != 4 || hi != 4 {
							t.Errorf("leaders per broker range %d-%d, want 4 each: %v", lo, hi, placed)
						}
						if lo, hi := spread(holds, brokers); lo != 4*rf || hi != 4*rf {
							t.Errorf("replicas per broker range %d-%d, want %d each: %v", lo, hi, 4*rf, placed)
						}
						// Consecutive partitions have consecutive leaders.
						if nb > 1 && placed[0][0] == placed[1][0] {
							t.Errorf("partitions 0 and 1 share leader %d", placed[0][0])
						}
					})
				}
			}
		}
	}
}

func TestAssignKafkaLayout(t *testing.T) {
	// Kafka's documented example (AdminUtils): 5 brokers, 10 partitions,
	// 3 replicas, start index 0 and replica shift 0.
	brokers := brokersWithRacks("", "", "", "", "")
	got := assignReplicas(brokers, 10, 3, 0, 0, 0)
	want := [][]int32{
		{1, 2, 3}, {2, 3, 4}, {3, 4, 5}, {4, 5, 1}, {5, 1, 2},
		{1, 3, 4}, {2, 4, 5}, {3, 5, 1}, {4, 1, 2}, {5, 2, 3},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("placement %v, want %v", got, want)
	}
	// Adding partitions continues the walk from partition 10: with the
	// shift the first walk had before its last increment, the same
	// placement as placing 12 at once.
	all := assignReplicas(brokers, 12, 3, 0, 0, 0)
	more := assignReplicas(brokers, 2, 3, 10, 0, 1)
	if !slices.EqualFunc(more, all[10:], slices.Equal) || !slices.Equal(more[0], []int32{1, 4, 5}) {
		t.Errorf("partitions 10-11: %v, want %v", more, all[10:])
	}
}

func TestAssignRackAware(t *testing.T) {
	for _, c := range []struct {
		name  string
		racks []string
		rf    int
	}{
		{"3 racks of 2, rf 3", []string{"a", "a", "b", "b", "c", "c"}, 3},
		{"3 racks of 2, rf 2", []string{"a", "b", "c", "a", "b", "c"}, 2},
		{"uneven racks, rf 3", []string{"a", "a", "a", "b", "c"}, 3},
		{"2 racks, rf 2", []string{"x", "y", "x", "y"}, 2},
		{"a rackless broker counts as its own rack", []string{"a", "", "b"}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			brokers := brokersWithRacks(c.racks...)
			rackOf := map[int32]string{}
			for _, b := range brokers {
				rackOf[b.ID] = b.Rack
			}
			for start := range brokers {
				for shift := range brokers {
					n := 3 * len(brokers)
					placed := assignReplicas(brokers, n, c.rf, 0, start, shift)
					leads, _ := checkPlacement(t, brokers, placed, n, c.rf)
					for p, r := range placed {
						seen := map[string]bool{}
						for _, id := range r {
							if seen[rackOf[id]] {
								t.Fatalf("start %d shift %d: partition %d replicas %v share rack %q", start, shift, p, r, rackOf[id])
							}
							seen[rackOf[id]] = true
						}
					}
					if lo, hi := spread(leads, brokers); lo != 3 || hi != 3 {
						t.Fatalf("start %d shift %d: leaders per broker range %d-%d, want 3 each", start, shift, lo, hi)
					}
				}
			}
		})
	}
}

func TestAssignRackAwareMoreReplicasThanRacks(t *testing.T) {
	// rf 3 over 2 racks: both racks are used by every partition, no
	// broker twice.
	brokers := brokersWithRacks("a", "a", "b", "b")
	placed := assignReplicas(brokers, 8, 3, 0, 1, 2)
	checkPlacement(t, brokers, placed, 8, 3)
	for p, r := range placed {
		racks := map[string]bool{}
		for _, id := range r {
			racks[brokers[id-1].Rack] = true
		}
		if len(racks) != 2 {
			t.Errorf("partition %d: replicas %v on racks %v, want both", p, r, racks)
		}
	}
}

func TestRackAlternated(t *testing.T) {
	brokers := []metadata.Broker{{ID: 5, Rack: "c"}, {ID: 1, Rack: "a"}, {ID: 3, Rack: "b"}, {ID: 2, Rack: "a"}, {ID: 4, Rack: "c"}}
	if got := rackAlternated(brokers); !slices.Equal(got, []int32{1, 3, 4, 2, 5}) {
		t.Errorf("rackAlternated = %v, want [1 3 4 2 5]", got)
	}
}
