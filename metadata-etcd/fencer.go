package etcdmeta

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Fencing.
//
// Every Backend runs a fencer: chronik nodes come and go, and whichever is
// up fences. A broker is due for fencing when its record is unfenced and its
// session key is gone (etcd deleted it when the lease expired). The fencer
// fences due brokers one per transaction, each comparing the record's mod
// revision and the session key's absence, so that of all the nodes' fencers
// exactly one commits each fence, and none fences a broker that re-attached
// or re-registered meanwhile. It wakes up when a session key is deleted
// (a watch on sessions/) and every fenceTick, to catch what it missed while
// it was not watching.
//
// Leader changes. etcd keeps lease deadlines on its leader only; a new
// leader restarts every lease with its full TTL, and an etcd leader that
// stalled (slow disk, CPU starvation) could revoke every lease at once when
// it resumed, before learning it was deposed (etcd issue 15247, fixed in
// 2024 patch releases of etcd 3.4 and 3.5 by checking leadership before
// revoking). And heartbeats in flight when the leader changed may be stuck
// until their attempt times out. To give every broker a full timeout after
// an etcd leader change whatever the etcd version, the fencer tracks the
// raft term in the headers of etcd's responses and, when it rises, fences
// nothing for one session timeout plus one call attempt. It does the same
// from the first term it sees: a backend that starts (or whose plugin
// restarts) just after a leader change cannot know it did, and would
// otherwise fence at once every broker whose lease the stall revoked.
// Brokers that expire while other nodes' fencers run are fenced by those
// on time; only a cluster whose every node just started fences up to one
// timeout later, as a new Raft leader does.
// Brokers whose leases were revoked in the stall heartbeat meanwhile and
// re-attach a new lease to their unfenced session (brokers.go); brokers
// that are really gone are fenced when the hold-off ends.

// fenceTick is how often the fencer looks for due brokers without being
// woken: half the session timeout, within [200ms, 2s].
func (b *Backend) fenceTick() time.Duration {
	return min(max(time.Duration(b.ttl)*time.Second/2, 200*time.Millisecond), 2*time.Second)
}

// runFencer is the fencer loop. Owned by the backend (b.wg, b.ctx).
func (b *Backend) runFencer() {
	kick := make(chan struct{}, 1)
	b.goBackground(func() { b.watchSessions(kick) })
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-kick:
		case <-timer.C:
		}
		timer.Reset(b.fenceDue())
	}
}

// watchSessions kicks the fencer whenever a session key is deleted. Owned
// by the backend.
func (b *Backend) watchSessions(kick chan<- struct{}) {
	wake := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	backoff := newBackoff()
	for b.ctx.Err() == nil {
		cli, err := b.client(b.ctx)
		if err != nil {
			pause(b.ctx, backoff.next()) //nolint:errcheck // the loop checks b.ctx
			continue
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(b.ctx))
		wch := cli.Watch(wctx, b.keys.sessions(), clientv3.WithPrefix(), clientv3.WithFilterPut())
		wake() // whatever was deleted while not watching
		var failed error
		for resp := range wch {
			b.leader.observe(resp.Header)
			if failed = resp.Err(); failed != nil {
				break
			}
			if len(resp.Events) > 0 {
				backoff.reset()
				wake()
			}
		}
		cancel()
		pause(b.ctx, backoff.after(failed)) //nolint:errcheck // the loop checks b.ctx
	}
}

// fenceDue fences every due broker, one per transaction, unless an etcd
// leader change asks to hold off; it returns when to look again.
func (b *Backend) fenceDue() time.Duration {
	tick := b.fenceTick()
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.RequestTimeout)
	defer cancel()
	cli, err := b.client(ctx)
	if err != nil {
		return tick
	}
	resp, err := cli.Txn(ctx).Then(
		clientv3.OpGet(b.keys.brokers(), clientv3.WithPrefix()),
		clientv3.OpGet(b.keys.sessions(), clientv3.WithPrefix(), clientv3.WithKeysOnly()),
	).Commit()
	if err != nil {
		if b.ctx.Err() == nil {
			b.log.Debug("fencer: reading sessions failed", "err", err)
		}
		return tick
	}
	b.leader.observe(resp.Header)
	live := map[int32]bool{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		if k := b.keys.parse(kv.Key); k.kind == kindSession {
			live[k.id] = true
		}
	}
	type due struct {
		kv     *mvccpb.KeyValue
		broker metadata.Broker
	}
	var dues []due
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		k := b.keys.parse(kv.Key)
		if k.kind != kindBroker || live[k.id] {
			continue
		}
		br, err := decodeBroker(kv)
		if err != nil {
			b.log.Error("fencer: corrupt broker record", "key", string(kv.Key), "err", err)
			continue
		}
		if !br.Fenced {
			dues = append(dues, due{kv, br})
		}
	}
	slices.SortFunc(dues, func(x, y due) int { return cmp.Compare(x.broker.Epoch, y.broker.Epoch) })
	for _, d := range dues {
		if until := b.leader.holdOff(); time.Now().Before(until) {
			b.log.Debug("fencer: holding off after an etcd leader change", "due", len(dues), "until", until)
			return min(time.Until(until)+10*time.Millisecond, tick)
		}
		fenced := d.broker
		fenced.Fenced = true
		id := d.broker.ID
		tr, err := cli.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(b.keys.broker(id)), "=", d.kv.ModRevision),
			clientv3.Compare(clientv3.ModRevision(b.keys.session(id)), "=", 0),
		).Then(clientv3.OpPut(b.keys.broker(id), encodeBroker(fenced)), b.touch()).Commit()
		if err != nil {
			if b.ctx.Err() == nil {
				b.log.Debug("fencer: fence failed", "broker", id, "err", err)
			}
			return tick
		}
		b.leader.observe(tr.Header)
		if tr.Succeeded {
			b.log.Info("broker session expired, fenced", "broker", id, "epoch", d.broker.Epoch, "revision", tr.Header.Revision)
		}
	}
	return tick
}

// backoff is a capped exponential retry delay, 20ms doubling up to max
// (zero max: 1s).
type backoff struct{ d, max time.Duration }

func newBackoff() *backoff { return &backoff{} }

func (b *backoff) next() time.Duration {
	limit := b.max
	if limit == 0 {
		limit = time.Second
	}
	if b.d == 0 {
		b.d = 20 * time.Millisecond
	} else {
		b.d = min(2*b.d, limit)
	}
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

// after returns the delay before re-opening a stream that ended with err:
// the next backoff step, or 5s when err will not go away by itself
// (permission denied...): every new stream authenticates again.
func (b *backoff) after(err error) time.Duration {
	if err != nil && !transient(err) && !errors.Is(err, context.Canceled) {
		return 5 * time.Second
	}
	return b.next()
}
