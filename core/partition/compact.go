package partition

import (
	"context"
	"errors"
	"time"

	"github.com/chronik-go/chronik/core/commitlog"
)

// cleaner is the Manager's compaction goroutine: every
// CompactionCheckInterval it offers each hosted partition of a compacted
// topic (cleanup.policy with compact) a compaction pass, which runs only
// when the partition's dirty ratio or compaction lags call for it. It is
// separate from the run goroutine so that a long pass never delays
// applying the metadata image; a partition closed meanwhile (topic
// deleted, Close) cancels its pass. It stops when the Manager closes.
func (m *Manager) cleaner() {
	defer m.wg.Done()
	ticker := time.NewTicker(m.cfg.CompactionCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			for _, p := range m.Partitions() {
				if m.ctx.Err() != nil {
					return
				}
				p.compact(m.ctx)
			}
		case <-m.ctx.Done():
			return
		}
	}
}

// compact runs a compaction pass on a compacted topic's replica, bounded
// by its high watermark (a leader's or, on a follower, the one its leader
// sent). Other topics and closed replicas are left alone.
func (p *Partition) compact(ctx context.Context) {
	r := p.role.Load()
	if r.closed || !r.cfg.Compact {
		return
	}
	opts := r.cfg.Compaction
	opts.HighWatermark = p.hw.Load()
	st, err := p.log.Compact(ctx, opts)
	switch {
	case errors.Is(err, commitlog.ErrClosed), ctx.Err() != nil:
	case err != nil:
		p.logger.Warn("partition: compaction failed", "error", err)
	case st.Ran:
		p.logger.Debug("partition: compacted", "reason", st.Reason, "dirty_ratio", st.DirtyRatio,
			"segments_cleaned", st.SegmentsCleaned, "segments_rewritten", st.SegmentsRewritten)
	}
}
