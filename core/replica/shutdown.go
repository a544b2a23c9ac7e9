package replica

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// handoffParallelism bounds the AlterPartition calls of one round of a
// controlled shutdown in flight at once.
const handoffParallelism = 8

// ShutdownResult is what a controlled shutdown did.
type ShutdownResult struct {
	// Moved are the partitions whose leadership moved away from this
	// broker, as committed (new leader, leader epoch, ISR).
	Moved []metadata.Partition
	// LeftISR are the partitions this broker follows whose ISR it left,
	// as committed.
	LeftISR []metadata.Partition
	// Kept counts the partitions this broker still leads because no other
	// replica is live and in their ISR (nothing else can take them
	// without losing acknowledged records).
	Kept int
	// Left counts the partitions this broker still leads with another
	// live in-sync replica, or still follows in the ISR, when the bound
	// ran out (or the Manager closed, or this broker was no longer live
	// in its image).
	Left int
	// Elapsed is how long it took.
	Elapsed time.Duration
}

// ControlledShutdown moves the leadership of every partition this broker
// leads to another in-sync replica, and takes this broker out of the ISR
// of the partitions it follows, before the broker goes away (Kafka's
// controlled shutdown): clients see NOT_LEADER_OR_FOLLOWER and a metadata
// refresh instead of an offline partition until the others notice the
// broker is gone and elect, and acks=all producers of the partitions it
// followed are not held up until their leaders notice it is gone.
//
// For each partition this broker leads in its image whose ISR has another
// live member, it writes with AlterPartition (compare-and-set on the
// partition epoch its replica applied, through the same path as elections
// and ISR changes) the first other live in-sync replica in assignment
// order that has fetched up to the high watermark (preferring one that a
// reassignment in progress keeps) as leader, and the ISR without this
// broker; the backend bumps the leader epoch. That replica holds every
// record acknowledged so far, and no record is acknowledged without it
// until the change, so nothing acknowledged is lost. A stale change
// (someone else changed the partition) is decided again from the next
// image; a failed one is retried; none is forced; a partition whose other
// in-sync replicas have not fetched up to the high watermark yet waits
// for them. Partitions with no other live in-sync replica stay as they
// are. When the writes are in this broker's image, ControlledShutdown
// waits for its replicas to apply it: they then refuse produce with
// NOT_LEADER_OR_FOLLOWER, and no longer serve as leader.
//
// For each partition this broker follows in the ISR under a live leader,
// it writes the same leader and the ISR without this broker (also a
// compare-and-set; leaving the ISR loses nothing: every acknowledged
// record is on the remaining members too).
//
// From the call on, the Manager stops taking leadership back by preferred
// leader rebalancing and stops fetching the partitions whose ISR does not
// include this broker (so that the new leaders do not add it back to the
// ISR of the partitions it handed over); it keeps fetching the partitions
// it is still in sync for, so that their acks=all producers are not held
// up, and it still elects where a leader is gone (and hands such a
// partition over in the next round).
//
// Call it before Close and while this broker's Kafka listener still
// serves: followers must still fetch from it until the handoff is done.
// It is bounded by Config.ControlledShutdownTimeout (zero: it does
// nothing) and by ctx; it does nothing unless the Manager is started and
// not closed.
func (m *Manager) ControlledShutdown(ctx context.Context) ShutdownResult {
	start := time.Now()
	m.lifeMu.Lock()
	run := m.started && !m.closed && m.cfg.ControlledShutdownTimeout > 0
	m.lifeMu.Unlock()
	if !run {
		return ShutdownResult{}
	}
	m.draining.Store(true)
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ControlledShutdownTimeout)
	defer cancel()
	stop := context.AfterFunc(m.ctx, cancel)
	defer stop()

	var res ShutdownResult
	moved, leftISR := map[topicPartition]metadata.Partition{}, map[topicPartition]metadata.Partition{}
	for round := 0; ; round++ {
		img, changed := m.cl.Current()
		if img == nil || !img.IsLive(m.brokerID) {
			// Without an image, or with this broker no longer live in
			// it, nothing can be decided: the others elect.
			if img != nil {
				pl := m.handoffs(img)
				res.Left, res.Kept = pl.size(), pl.kept
			}
			break
		}
		// Decide from the replicas' state as of this image.
		if err := m.parts.WaitRevision(ctx, img.Revision()); err != nil && ctx.Err() == nil {
			m.log.Debug("replica: controlled shutdown: partitions have not applied the image yet", "revision", int64(img.Revision()), "error", err)
		}
		pl := m.handoffs(img)
		res.Kept = pl.kept
		if pl.size() == 0 {
			break
		}
		if round == 0 {
			m.log.Info("replica: controlled shutdown: moving the leadership of the partitions this broker leads and leaving the ISRs",
				"partitions", pl.size(), "led_without_other_in_sync_replica", pl.kept, "timeout", m.cfg.ControlledShutdownTimeout)
		}
		done := m.writeHandoffs(ctx, pl.todo)
		for _, h := range done {
			tp := topicPartition{h.part.Topic, h.part.Partition}
			if h.leave {
				leftISR[tp] = h.part
			} else {
				moved[tp] = h.part
			}
		}
		left := pl.size() - len(done)
		if left > 0 && ctx.Err() == nil {
			// Stale, failed or waiting: decide again from a newer
			// image, or after a pause.
			m.pause(ctx, changed)
		}
		if ctx.Err() != nil {
			res.Left = left
			break
		}
	}
	if len(moved)+len(leftISR) > 0 {
		// The replicas refuse produce, and the fetchers leave the
		// partitions whose ISR this broker left, once they applied the
		// changes (cluster.AlterPartition returned once the image had
		// them).
		if img, _ := m.cl.Current(); img != nil {
			if err := m.parts.WaitRevision(ctx, img.Revision()); err != nil {
				m.log.Warn("replica: controlled shutdown: the replicas have not applied the changes yet", "revision", int64(img.Revision()), "error", err)
			}
		}
	}
	res.Moved, res.LeftISR = sorted(moved), sorted(leftISR)
	res.Elapsed = time.Since(start)
	attrs := []any{"moved", len(res.Moved), "left_isr", len(res.LeftISR), "led_without_other_in_sync_replica", res.Kept,
		"not_done_in_time", res.Left, "took", res.Elapsed.Round(time.Millisecond)}
	if res.Left > 0 {
		m.log.Warn("replica: controlled shutdown incomplete: once this broker is gone, the others elect new leaders and shrink the ISRs for the rest", attrs...)
	} else {
		m.log.Info("replica: controlled shutdown done", attrs...)
	}
	return res
}

// sorted returns the partitions of m by topic and index.
func sorted(m map[topicPartition]metadata.Partition) []metadata.Partition {
	out := make([]metadata.Partition, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b metadata.Partition) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

type topicPartition struct {
	topic string
	index int32
}

// handoff is one partition's leadership move.
type handoff struct {
	part   metadata.Partition // as in the image
	change metadata.PartitionChange
	leave  bool // leaving the ISR of a followed partition
}

// plan is one round of a controlled shutdown, decided from an image and
// the replicas' applied state.
type plan struct {
	todo []handoff
	// wait counts partitions this broker leads with another live
	// in-sync replica that cannot take over yet: the replica has not
	// applied the image's leadership, or no such replica has been seen
	// to hold every acknowledged record.
	wait int
	// kept counts partitions this broker leads without another live
	// in-sync replica.
	kept int
}

// size is how many partitions the round has to do something about.
func (pl plan) size() int { return len(pl.todo) + pl.wait }

// handoffs decides a round: for each partition img names this broker
// leader of, the move (handoffChange), a wait, or none possible; for each
// partition it follows in the ISR under a live leader, leaving the ISR.
func (m *Manager) handoffs(img *cluster.Image) plan {
	local := map[topicPartition]*partition.Partition{}
	for _, p := range m.parts.Partitions() {
		local[topicPartition{p.Topic(), p.Index()}] = p
	}
	var pl plan
	for _, name := range img.TopicNames() {
		t, _ := img.Topic(name)
		for _, part := range t.Partitions {
			if part.Leader != m.brokerID {
				if part.Leader != metadata.NoLeader && img.IsLive(part.Leader) && slices.Contains(part.ISR, part.Leader) && slices.Contains(part.ISR, m.brokerID) {
					pl.todo = append(pl.todo, handoff{part: part, leave: true, change: metadata.PartitionChange{
						Topic: part.Topic, Partition: part.Partition, ExpectedPartitionEpoch: part.PartitionEpoch, Leader: part.Leader,
						ISR: slices.DeleteFunc(slices.Clone(part.ISR), func(id int32) bool { return id == m.brokerID }),
					}})
				}
				continue
			}
			if !slices.ContainsFunc(part.ISR, func(id int32) bool { return id != m.brokerID && img.IsLive(id) }) {
				pl.kept++
				continue
			}
			p := local[topicPartition{part.Topic, part.Partition}]
			var ls partition.LeaderState
			ok := p != nil
			if ok {
				ls, ok = p.LeaderState()
			}
			if !ok || ls.PartitionEpoch != part.PartitionEpoch {
				pl.wait++ // the replica has not applied this image yet
				continue
			}
			change, ok := handoffChange(img, part, ls, m.brokerID)
			if !ok {
				pl.wait++
				continue
			}
			pl.todo = append(pl.todo, handoff{part: part, change: change})
		}
	}
	return pl
}

// handoffChange is the change that moves the leadership of part (led by
// self, whose replica's leader state is ls, applied from part's partition
// epoch) to the first other replica in assignment order that is live, in
// the ISR, and known to hold every acknowledged record — its last fetch
// reached the high watermark — preferring one that a reassignment in
// progress keeps; the new ISR is the ISR without self. ok is false when
// there is none.
//
// The ISR and the fetch offsets are the replica's, as its high watermark
// uses them: a member of the ISR that fetched up to the high watermark has
// every record acknowledged so far, and no record is acknowledged from now
// on without it. (A replica added to the ISR recently may not have the
// records acknowledged just before its addition was applied; the check on
// its fetch offset covers that.)
func handoffChange(img *cluster.Image, part metadata.Partition, ls partition.LeaderState, self int32) (metadata.PartitionChange, bool) {
	to := metadata.NoLeader
	for _, id := range ls.Replicas {
		if id == self || !img.IsLive(id) || !slices.Contains(ls.ISR, id) {
			continue
		}
		if leo, fetched := ls.FollowerEndOffsets[id]; !fetched || leo < ls.HighWatermark {
			continue
		}
		if to == metadata.NoLeader {
			to = id
		}
		if !slices.Contains(part.Removing, id) {
			to = id
			break
		}
	}
	if to == metadata.NoLeader {
		return metadata.PartitionChange{}, false
	}
	isr := slices.DeleteFunc(slices.Clone(ls.ISR), func(id int32) bool { return id == self })
	return metadata.PartitionChange{
		Topic: part.Topic, Partition: part.Partition, ExpectedPartitionEpoch: ls.PartitionEpoch,
		Leader: to, ISR: isr,
	}, true
}

// writeHandoffs writes the changes, a few at a time, and returns the
// partitions whose change committed and is in this broker's image.
func (m *Manager) writeHandoffs(ctx context.Context, todo []handoff) []handoff {
	var (
		mu   sync.Mutex
		done []handoff
		wg   sync.WaitGroup
	)
	next := make(chan handoff)
	for range min(handoffParallelism, len(todo)) {
		wg.Go(func() {
			for h := range next {
				part := h.part
				what := "controlled_shutdown"
				if h.leave {
					what = "controlled_shutdown_leave_isr"
				}
				got, err := m.write(ctx, h.change, what,
					"old_leader", part.Leader, "old_leader_epoch", part.LeaderEpoch, "isr_from", part.ISR, "isr_to", h.change.ISR)
				if err != nil {
					continue // logged by write; decided again next round
				}
				h.part = got
				mu.Lock()
				done = append(done, h)
				mu.Unlock()
			}
		})
	}
	for _, h := range todo {
		select {
		case next <- h:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	return done
}

// pause waits for a newer image (changed closed), the retry backoff, or
// the end of ctx.
func (m *Manager) pause(ctx context.Context, changed <-chan struct{}) {
	t := time.NewTimer(m.cfg.RetryBackoff)
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	case <-ctx.Done():
	}
}
