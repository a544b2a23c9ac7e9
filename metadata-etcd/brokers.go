package etcdmeta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Broker sessions.
//
// A session is the pair brokers/<id> (the record, no lease) and
// sessions/<id> (an empty value attached to the session's lease, TTL = the
// session timeout). Invariant: a session key exists only while the record is
// unfenced, and it belongs to the record's current epoch. Every write that
// touches either key is a transaction comparing the mod revisions of both
// as they were read, so concurrent writers (registrations, heartbeats that
// re-attach, fencers on every node, unregistrations) serialize and each
// decides on the state it read.
//
// When the lease ends (no keepalive for the timeout), etcd deletes the
// session key; a fencer then commits the fence (fencer.go). Between the two,
// the session is expired but not fenced: a heartbeat or a registration of
// the same incarnation re-attaches a new lease (the broker keeps its epoch),
// as a late heartbeat does with any backend before the fence commits. This
// is also what gives brokers their full timeout after an etcd leader stall
// that revoked leases wholesale (etcd issue 15247): the fencer holds off
// after a leader change and the brokers re-attach meanwhile.

// waitRevoke is how long a call waits before re-reading a session whose
// lease etcd reported gone while its key was still there (the revocation
// is being applied).
const waitRevoke = 20 * time.Millisecond

// sessionView is a linearizable read of a broker's two keys.
type sessionView struct {
	rec     *mvccpb.KeyValue // brokers/<id>, nil if absent
	sess    *mvccpb.KeyValue // sessions/<id>, nil if absent
	broker  metadata.Broker  // decoded rec
	recRev  int64            // rec's mod revision, 0 if absent
	sessRev int64            // sess's mod revision, 0 if absent
}

func (b *Backend) readSession(ctx context.Context, cli *clientv3.Client, id int32) (sessionView, error) {
	resp, err := cli.Txn(ctx).Then(clientv3.OpGet(b.keys.broker(id)), clientv3.OpGet(b.keys.session(id))).Commit()
	if err != nil {
		return sessionView{}, err
	}
	b.leader.observe(resp.Header)
	var v sessionView
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		v.rec, v.recRev = kvs[0], kvs[0].ModRevision
		if v.broker, err = decodeBroker(v.rec); err != nil {
			return v, fmt.Errorf("%w: %w", errCorrupt, err)
		}
	}
	if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
		v.sess, v.sessRev = kvs[0], kvs[0].ModRevision
	}
	return v, nil
}

// unchanged compares both keys of v with what is stored.
func (b *Backend) unchanged(id int32, v sessionView) []clientv3.Cmp {
	return []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(b.keys.broker(id)), "=", v.recRev),
		clientv3.Compare(clientv3.ModRevision(b.keys.session(id)), "=", v.sessRev),
	}
}

// grant creates a session lease.
func (b *Backend) grant(ctx context.Context, cli *clientv3.Client) (clientv3.LeaseID, int64, error) {
	resp, err := cli.Grant(ctx, b.ttl)
	if err != nil {
		return 0, 0, err
	}
	b.leader.observe(resp.ResponseHeader)
	return resp.ID, resp.TTL, nil
}

// revokeLater revokes a lease nobody uses, in the background and bounded:
// if it fails the lease simply expires (no key is attached to it).
func (b *Backend) revokeLater(cli *clientv3.Client, id clientv3.LeaseID) {
	b.goBackground(func() {
		ctx, cancel := context.WithTimeout(b.ctx, b.cfg.RequestTimeout)
		defer cancel()
		if _, err := cli.Revoke(ctx, id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			b.log.Debug("revoking an unused session lease failed; it will expire", "lease", int64(id), "err", err)
		}
	})
}

// reattach gives the expired, unfenced session v a new lease, if v is still
// what is stored. It reports whether it did, and the lease's TTL. A commit
// whose outcome is unknown returns the error; the caller re-reads (and
// finds the session attached if it was).
func (b *Backend) reattach(ctx context.Context, cli *clientv3.Client, id int32, v sessionView) (bool, int64, error) {
	lease, ttl, err := b.grant(ctx, cli)
	if err != nil {
		return false, 0, err
	}
	resp, err := cli.Txn(ctx).If(b.unchanged(id, v)...).
		Then(clientv3.OpPut(b.keys.session(id), "", clientv3.WithLease(lease))).Commit()
	if err != nil {
		return false, 0, err
	}
	b.leader.observe(resp.Header)
	if !resp.Succeeded {
		b.revokeLater(cli, lease)
		return false, 0, nil
	}
	b.log.Info("broker session re-attached to a new lease", "broker", id, "epoch", v.broker.Epoch, "lease", int64(lease))
	return true, ttl, nil
}

// keepAlive renews the lease of session key sess (renew.go). ok is false
// when the lease is gone (the key is being deleted).
func (b *Backend) keepAlive(ctx context.Context, cli *clientv3.Client, sess *mvccpb.KeyValue) (ok bool, ttl int64, err error) {
	ttl, ok, err = b.renewer.renew(ctx, cli, clientv3.LeaseID(sess.Lease))
	return ok, ttl, err
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RegisterBroker opens a session for reg.ID; see metadata.Backend. The
// epoch is the revision of the transaction that wrote the record and the
// session key. A repeated registration of the live incarnation renews its
// lease (and re-attaches one if it expired unfenced) and returns the same
// epoch; so does a retry after a commit whose outcome was unknown.
func (b *Backend) RegisterBroker(ctx context.Context, reg metadata.BrokerRegistration) (metadata.Broker, error) {
	if reg.ID < 0 || reg.IncarnationID == "" {
		return metadata.Broker{}, fmt.Errorf("etcdmeta: register broker %d with incarnation %q: %w", reg.ID, reg.IncarnationID, metadata.ErrInvalid)
	}
	what := fmt.Sprintf("register broker %d", reg.ID)
	cli, ctx, done, err := b.op(ctx, what)
	if err != nil {
		return metadata.Broker{}, err
	}
	defer done()
	bo := &backoff{max: 500 * time.Millisecond}
	for {
		actx, cancel := b.attempt(ctx)
		br, ok, err := b.registerOnce(actx, cli, reg)
		cancel()
		if err != nil {
			if errors.Is(err, metadata.ErrDuplicateBroker) {
				return metadata.Broker{}, fmt.Errorf("etcdmeta: %s: %w", what, err)
			}
			if b.retry(ctx, bo, what, err) {
				continue
			}
			return metadata.Broker{}, b.wrap(ctx, what, err)
		}
		if ok {
			return br, nil
		}
	}
}

// registerOnce makes one attempt; ok false means "read again".
func (b *Backend) registerOnce(ctx context.Context, cli *clientv3.Client, reg metadata.BrokerRegistration) (metadata.Broker, bool, error) {
	v, err := b.readSession(ctx, cli, reg.ID)
	if err != nil {
		return metadata.Broker{}, false, err
	}
	if v.rec != nil && !v.broker.Fenced {
		same := v.broker.IncarnationID == reg.IncarnationID
		if v.sess != nil {
			if !same {
				return metadata.Broker{}, false, fmt.Errorf("live incarnation %s, not %s: %w", v.broker.IncarnationID, reg.IncarnationID, metadata.ErrDuplicateBroker)
			}
			ok, _, err := b.keepAlive(ctx, cli, v.sess)
			if err != nil {
				return metadata.Broker{}, false, err
			}
			if !ok {
				return metadata.Broker{}, false, pause(ctx, waitRevoke)
			}
			return v.broker, true, nil
		}
		if same {
			ok, _, err := b.reattach(ctx, cli, reg.ID, v)
			return v.broker, ok, err
		}
		// Another incarnation whose session expired unfenced: replace it.
	}
	lease, _, err := b.grant(ctx, cli)
	if err != nil {
		return metadata.Broker{}, false, err
	}
	resp, err := cli.Txn(ctx).If(b.unchanged(reg.ID, v)...).Then(
		clientv3.OpPut(b.keys.broker(reg.ID), mustJSON(newBrokerRecord(reg))),
		clientv3.OpPut(b.keys.session(reg.ID), "", clientv3.WithLease(lease)),
		b.touch(),
	).Commit()
	if err != nil {
		// Unknown outcome: the next attempt reads what happened.
		return metadata.Broker{}, false, err
	}
	b.leader.observe(resp.Header)
	if !resp.Succeeded {
		b.revokeLater(cli, lease)
		return metadata.Broker{}, false, nil
	}
	nb := metadata.Broker{ID: reg.ID, IncarnationID: reg.IncarnationID, Rack: reg.Rack,
		Listeners: cloneListeners(reg.Listeners), Epoch: resp.Header.Revision}
	b.log.Debug("broker registered", "broker", reg.ID, "epoch", nb.Epoch, "incarnation", reg.IncarnationID)
	return nb, true, nil
}

func cloneListeners(ls []metadata.Listener) []metadata.Listener {
	if len(ls) == 0 {
		return nil
	}
	return append([]metadata.Listener(nil), ls...)
}

// Heartbeat renews the session (id, epoch) with a keepalive of its lease;
// see metadata.Backend. It commits nothing, except when the lease expired
// and the session is not fenced yet: then it attaches a new lease (a
// session-key write that is not a contract change). SessionTimeout in the
// result is the lease's TTL.
func (b *Backend) Heartbeat(ctx context.Context, id int32, epoch int64) (metadata.HeartbeatResult, error) {
	what := fmt.Sprintf("heartbeat of broker %d epoch %d", id, epoch)
	cli, ctx, done, err := b.op(ctx, what)
	if err != nil {
		return metadata.HeartbeatResult{}, err
	}
	defer done()
	bo := &backoff{max: 500 * time.Millisecond}
	for {
		actx, cancel := b.attempt(ctx)
		res, ok, err := b.heartbeatOnce(actx, cli, id, epoch)
		cancel()
		if err != nil {
			if errors.Is(err, metadata.ErrFenced) || errors.Is(err, metadata.ErrStaleEpoch) {
				return metadata.HeartbeatResult{}, fmt.Errorf("etcdmeta: %s: %w", what, err)
			}
			if b.retry(ctx, bo, what, err) {
				continue
			}
			return metadata.HeartbeatResult{}, b.wrap(ctx, what, err)
		}
		if ok {
			return res, nil
		}
	}
}

func (b *Backend) heartbeatOnce(ctx context.Context, cli *clientv3.Client, id int32, epoch int64) (metadata.HeartbeatResult, bool, error) {
	v, err := b.readSession(ctx, cli, id)
	if err != nil {
		return metadata.HeartbeatResult{}, false, err
	}
	switch {
	case v.rec == nil:
		return metadata.HeartbeatResult{}, false, fmt.Errorf("unknown broker: %w", metadata.ErrFenced)
	case v.broker.Epoch != epoch:
		return metadata.HeartbeatResult{}, false, fmt.Errorf("current epoch is %d: %w", v.broker.Epoch, metadata.ErrStaleEpoch)
	case v.broker.Fenced:
		return metadata.HeartbeatResult{}, false, fmt.Errorf("session fenced: %w", metadata.ErrFenced)
	}
	var (
		ok  bool
		ttl int64
	)
	if v.sess != nil {
		ok, ttl, err = b.keepAlive(ctx, cli, v.sess)
		if err == nil && !ok {
			err = pause(ctx, waitRevoke)
		}
	} else {
		ok, ttl, err = b.reattach(ctx, cli, id, v)
	}
	if err != nil || !ok {
		return metadata.HeartbeatResult{}, false, err
	}
	return metadata.HeartbeatResult{Epoch: epoch, SessionTimeout: time.Duration(ttl) * time.Second}, true, nil
}

// UnregisterBroker deletes the broker record and its session key in one
// transaction and revokes the lease; see metadata.Backend. A fenced broker
// with its last epoch may unregister too.
func (b *Backend) UnregisterBroker(ctx context.Context, id int32, epoch int64) error {
	what := fmt.Sprintf("unregister broker %d epoch %d", id, epoch)
	cli, ctx, done, err := b.op(ctx, what)
	if err != nil {
		return err
	}
	defer done()
	bo := &backoff{max: 500 * time.Millisecond}
	for {
		actx, cancel := b.attempt(ctx)
		ok, err := b.unregisterOnce(actx, cli, id, epoch)
		cancel()
		if err != nil {
			if errors.Is(err, metadata.ErrStaleEpoch) {
				return fmt.Errorf("etcdmeta: %s: %w", what, err)
			}
			if b.retry(ctx, bo, what, err) {
				continue
			}
			return b.wrap(ctx, what, err)
		}
		if ok {
			return nil
		}
	}
}

func (b *Backend) unregisterOnce(ctx context.Context, cli *clientv3.Client, id int32, epoch int64) (bool, error) {
	v, err := b.readSession(ctx, cli, id)
	if err != nil {
		return false, err
	}
	if v.rec == nil {
		return true, nil
	}
	if v.broker.Epoch != epoch {
		return false, fmt.Errorf("current epoch is %d: %w", v.broker.Epoch, metadata.ErrStaleEpoch)
	}
	resp, err := cli.Txn(ctx).If(b.unchanged(id, v)...).Then(
		clientv3.OpDelete(b.keys.broker(id)),
		clientv3.OpDelete(b.keys.session(id)),
		b.touch(),
	).Commit()
	if err != nil {
		return false, err
	}
	b.leader.observe(resp.Header)
	if !resp.Succeeded {
		return false, nil
	}
	if v.sess != nil && v.sess.Lease != 0 {
		b.revokeLater(cli, clientv3.LeaseID(v.sess.Lease))
	}
	return true, nil
}
