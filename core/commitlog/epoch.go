package commitlog

import (
	"fmt"
	"slices"
	"sort"
	"sync"
)

// epochCache is the leader epoch cache (Kafka's LeaderEpochFileCache): for
// each leader epoch the first offset written in it, persisted in
// leader-epoch.checkpoint on every change. The writer changes it under the
// log's writer lock; readers query it under mu.
type epochCache struct {
	mu      sync.RWMutex
	dir     string
	entries []EpochEntry
}

// assign records that epoch starts at offset (writer only). It follows
// Kafka: nothing changes when epoch is the latest epoch already starting at
// or before offset; entries that would break monotonicity are removed
// first. Epochs below the latest are rejected (ErrInvalidEpoch): a replica
// truncates before it accepts an older epoch.
func (c *epochCache) assign(epoch int32, offset int64) error {
	if epoch < 0 {
		return fmt.Errorf("%w: %d", ErrInvalidEpoch, epoch)
	}
	c.mu.RLock()
	var latest EpochEntry
	has := len(c.entries) > 0
	if has {
		latest = c.entries[len(c.entries)-1]
	}
	c.mu.RUnlock()
	if has {
		if epoch < latest.Epoch {
			return fmt.Errorf("%w: epoch %d is older than the latest epoch %d", ErrInvalidEpoch, epoch, latest.Epoch)
		}
		if epoch == latest.Epoch && offset >= latest.StartOffset {
			return nil
		}
	}
	next := slices.Clone(c.entries)
	for len(next) > 0 {
		e := next[len(next)-1]
		if e.Epoch < epoch && e.StartOffset < offset {
			break
		}
		next = next[:len(next)-1]
	}
	next = append(next, EpochEntry{Epoch: epoch, StartOffset: offset})
	return c.set(next)
}

// set persists entries and installs them (writer only).
func (c *epochCache) set(entries []EpochEntry) error {
	if err := writeFileAtomic(c.dir, epochCheckpointFile, encodeEpochs(entries)); err != nil {
		return err
	}
	c.mu.Lock()
	c.entries = entries
	c.mu.Unlock()
	return nil
}

// truncateFromEnd removes entries starting at or after endOffset (writer
// only): the log was truncated to endOffset.
func (c *epochCache) truncateFromEnd(endOffset int64) error {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= endOffset {
		n--
	}
	if n == len(c.entries) {
		return nil
	}
	return c.set(slices.Clone(c.entries[:n]))
}

// truncateFromStart drops entries wholly below startOffset, keeping the
// latest of them with its start moved to startOffset (writer only): the log
// start offset advanced.
func (c *epochCache) truncateFromStart(startOffset int64) error {
	i := 0
	for i < len(c.entries) && c.entries[i].StartOffset < startOffset {
		i++
	}
	if i == 0 {
		return nil
	}
	next := slices.Clone(c.entries[i-1:])
	if next[0].StartOffset == startOffset {
		return nil
	}
	next[0].StartOffset = startOffset
	return c.set(next)
}

// latest returns the latest epoch, or ok=false when there is none.
func (c *epochCache) latest() (int32, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.entries) == 0 {
		return -1, false
	}
	return c.entries[len(c.entries)-1].Epoch, true
}

// snapshot returns a copy of the entries.
func (c *epochCache) snapshot() []EpochEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.entries)
}

// endOffsetFor implements Kafka's LeaderEpochFileCache.endOffsetFor.
func (c *epochCache) endOffsetFor(epoch int32, logEndOffset int64) (int32, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if epoch < 0 || len(c.entries) == 0 {
		return -1, -1
	}
	if c.entries[len(c.entries)-1].Epoch == epoch {
		return epoch, logEndOffset
	}
	// higher: the first entry with an epoch above the requested one.
	hi := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].Epoch > epoch })
	if hi == len(c.entries) {
		return -1, -1
	}
	if hi == 0 {
		// Smaller than every known epoch: the data before the first
		// epoch is gone; point at the first known start.
		return epoch, c.entries[0].StartOffset
	}
	return c.entries[hi-1].Epoch, c.entries[hi].StartOffset
}
