package conformance

import (
	"fmt"
	"slices"
	"sync"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func producerIDChecks() []Check {
	return []Check{
		{
			Name:   "ProducerIDs/ConcurrentBlocksNeverOverlap",
			Clause: "producer-id blocks allocated concurrently through every node never overlap, and NextProducerID is past all of them",
			Run:    checkProducerIDsConcurrent,
		},
		{
			Name:   "ProducerIDs/InvalidCountRejected",
			Clause: "AllocateProducerIDs with n <= 0 fails with ErrInvalid",
			Run:    checkProducerIDsInvalid,
		},
		{
			Name:   "ProducerIDs/NeverOverlapAcrossRestarts",
			Clause: "producer-id blocks allocated after every node is stopped or killed and restarted never overlap earlier ones",
			Needs:  []metadata.Capability{metadata.CapPersistence},
			Run:    checkProducerIDsRestart,
		},
	}
}

type idBlock struct {
	first, n int64
	node     int
}

// checkBlocks fails the check if two blocks overlap.
func checkBlocks(t T, blocks []idBlock) {
	t.Helper()
	slices.SortFunc(blocks, func(a, b idBlock) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	for i := 1; i < len(blocks); i++ {
		a, b := blocks[i-1], blocks[i]
		if a.first+a.n > b.first {
			t.Errorf("producer-id blocks overlap: [%d, %d) from node %d and [%d, %d) from node %d", a.first, a.first+a.n, a.node, b.first, b.first+b.n, b.node)
		}
	}
}

func checkProducerIDsConcurrent(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	const perWorker = 15
	sizes := []int{1, 7, 100, 1000}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		blocks []idBlock
		errs   errorsOf
	)
	for w := range 3 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := w % n
			for k := range perWorker {
				size := sizes[(w+k)%len(sizes)]
				ctx, cancel := e.call()
				first, err := e.node(node).AllocateProducerIDs(ctx, size)
				cancel()
				if err != nil {
					errs.add("worker %d (node %d): AllocateProducerIDs(%d): %v", w, node, size, err)
					return
				}
				if first < 0 {
					errs.add("worker %d (node %d): AllocateProducerIDs(%d) returned negative id %d", w, node, size, first)
				}
				mu.Lock()
				blocks = append(blocks, idBlock{first, int64(size), node})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	errs.report(t)
	checkBlocks(t, blocks)
	end := int64(0)
	for _, b := range blocks {
		end = max(end, b.first+b.n)
	}
	for j := range n {
		if st := e.snapshot(j); st.NextProducerID < end {
			t.Errorf("node %d: NextProducerID %d, but ids up to %d were handed out", j, st.NextProducerID, end-1)
		}
	}
}

func checkProducerIDsInvalid(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	for i := range e.c.N() {
		for _, bad := range []int{0, -1} {
			ctx, cancel := e.call()
			_, err := e.node(i).AllocateProducerIDs(ctx, bad)
			cancel()
			expectErr(t, fmt.Sprintf("node %d: AllocateProducerIDs(%d)", i, bad), err, metadata.ErrInvalid)
		}
	}
}

func checkProducerIDsRestart(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	var blocks []idBlock
	alloc := func(round string) {
		for i := range n {
			first := e.allocate(i, 50)
			blocks = append(blocks, idBlock{first, 50, i})
		}
		t.Logf("%s: %d blocks allocated", round, len(blocks))
	}
	alloc("before restarts")
	e.restartAll(false)
	alloc("after every node stopped and restarted")
	e.restartAll(true)
	alloc("after every node killed and restarted")
	checkBlocks(t, blocks)
}
