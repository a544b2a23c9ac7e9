package cluster

import (
	"cmp"
	"maps"
	"slices"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// assignReplicas places rf replicas for each of n partitions, numbered from
// first, over brokers (the live brokers, sorted by id, rf <= len(brokers)),
// the way Kafka's AdminUtils does, so that leaders and replicas spread
// evenly:
//
//   - Without racks (no broker has one): partition p's first replica (its
//     preferred leader) is brokers[(p+start) % N]; the other replicas follow
//     it at a distance that shifts by one every N partitions, so that
//     followers of one broker's partitions spread over the others too.
//   - With racks (any broker has one; a broker without a rack counts as a
//     rack of its own): the same walk over a rack-alternating broker list
//     (one broker of each rack in turn), skipping a broker whose rack already
//     holds a replica of the partition while some rack holds none, so that
//     consecutive replicas land on different racks whenever there are
//     enough racks.
//
// start and shift are the walk's random start index and replica shift
// (Kafka draws both at random per topic; tests fix them). The result has n
// lists of rf distinct broker ids.
func assignReplicas(brokers []metadata.Broker, n, rf int, first, start, shift int) [][]int32 {
	rackAware := slices.ContainsFunc(brokers, func(b metadata.Broker) bool { return b.Rack != "" })
	if rackAware {
		return assignRackAware(brokers, n, rf, first, start, shift)
	}
	ids := make([]int32, len(brokers))
	for i, b := range brokers {
		ids[i] = b.ID
	}
	nb := len(ids)
	out := make([][]int32, n)
	cur := first
	for i := range out {
		if cur > 0 && cur%nb == 0 {
			shift++
		}
		lead := (cur + start) % nb
		r := make([]int32, 0, rf)
		r = append(r, ids[lead])
		for j := range rf - 1 {
			r = append(r, ids[replicaIndex(lead, shift, j, nb)])
		}
		out[i] = r
		cur++
	}
	return out
}

// replicaIndex is the index of the (j+2)-th replica of a partition led by
// brokers[lead]: never lead itself, and distinct for j in [0, nb-1).
func replicaIndex(lead, shift, j, nb int) int {
	return (lead + 1 + (shift+j)%(nb-1)) % nb
}

// assignRackAware is assignReplicas over racks (Kafka's
// assignReplicasToBrokersRackAware).
func assignRackAware(brokers []metadata.Broker, n, rf int, first, start, shift int) [][]int32 {
	arranged := rackAlternated(brokers)
	nb := len(arranged)
	rackOf := make(map[int32]string, nb)
	for _, b := range brokers {
		rackOf[b.ID] = b.Rack
	}
	numRacks := len(slices.Compact(slices.Sorted(maps.Values(rackOf))))
	out := make([][]int32, n)
	cur := first
	for i := range out {
		if cur > 0 && cur%nb == 0 {
			shift++
		}
		lead := (cur + start) % nb
		leader := arranged[lead]
		r := make([]int32, 0, rf)
		r = append(r, leader)
		racks := map[string]bool{rackOf[leader]: true}
		used := map[int32]bool{leader: true}
		k := 0
		for range rf - 1 {
			for {
				b := arranged[replicaIndex(lead, shift*numRacks, k, nb)]
				k++
				rack := rackOf[b]
				// Skip a broker whose rack already has a replica while some
				// rack has none, and a broker that already has one while some
				// broker has none.
				if (!racks[rack] || len(racks) == numRacks) && (!used[b] || len(used) == nb) {
					r = append(r, b)
					racks[rack] = true
					used[b] = true
					break
				}
			}
		}
		out[i] = r
		cur++
	}
	return out
}

// rackAlternated lists broker ids taking one broker of each rack in turn
// (racks in name order, brokers of a rack by id): racks a={1,2}, b={3},
// c={4,5} give 1, 3, 4, 2, 5.
func rackAlternated(brokers []metadata.Broker) []int32 {
	byRack := map[string][]int32{}
	for _, b := range brokers {
		byRack[b.Rack] = append(byRack[b.Rack], b.ID)
	}
	racks := slices.Sorted(maps.Keys(byRack))
	for _, r := range racks {
		slices.SortFunc(byRack[r], cmp.Compare[int32])
	}
	out := make([]int32, 0, len(brokers))
	for i := 0; len(out) < len(brokers); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}
