package etcdmeta

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// snapshotPage is how many keys one range request of a Snapshot reads.
const snapshotPage = 1000

// Snapshot reads every key under the prefix at one etcd revision H (a
// linearizable range, paged at that revision) and decodes the state. See
// metadata.Backend. State.Revision is the revision of the last contract
// change at H (the changed key's mod revision; H itself for a prefix
// never written): the state at H is the state at that revision, and
// revisions after it up to H changed nothing of this cluster (session keys,
// other prefixes). So every revision a caller ever sees is the revision of
// a change of this cluster, and a watch from a Snapshot's revision
// delivers a batch at every later revision it waits for.
func (b *Backend) Snapshot(ctx context.Context) (metadata.State, error) {
	cli, ctx, done, err := b.op(ctx, "snapshot")
	if err != nil {
		return metadata.State{}, err
	}
	defer done()
	bo := &backoff{max: 500 * time.Millisecond}
	for {
		actx, cancel := b.attempt(ctx)
		rev, kvs, err := b.readAll(actx, cli)
		cancel()
		if err != nil {
			// A compaction between the pages of a read: read again at a
			// newer revision.
			if errors.Is(err, rpctypes.ErrCompacted) || b.retry(ctx, bo, "snapshot", err) {
				continue
			}
			return metadata.State{}, b.wrap(ctx, "snapshot", err)
		}
		st, err := b.decodeState(kvs)
		if err != nil {
			return metadata.State{}, b.corrupt("snapshot", err)
		}
		if st.ClusterID == "" {
			actx, cancel := b.attempt(ctx)
			id, err := b.ensureClusterID(actx, cli)
			cancel()
			if err != nil {
				if b.retry(ctx, bo, "snapshot", err) {
					continue
				}
				return metadata.State{}, b.wrap(ctx, "snapshot", err)
			}
			st.ClusterID = id
		}
		st.Revision = metadata.Revision(rev)
		for _, kv := range kvs {
			if b.keys.parse(kv.Key).kind == kindChanged {
				st.Revision = metadata.Revision(kv.ModRevision)
			}
		}
		return st, nil
	}
}

// ensureClusterID creates the cluster id key with a new id unless it
// exists, in one transaction (create if absent, else read), and returns
// the id in force: of nodes racing to create it, every one gets the id
// that was written first. Safe to retry: the key is never rewritten.
func (b *Backend) ensureClusterID(ctx context.Context, cli *clientv3.Client) (string, error) {
	key, id := b.keys.clusterID(), metadata.NewClusterID()
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, id)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return "", err
	}
	b.leader.observe(resp.Header)
	if resp.Succeeded {
		b.log.Info("created the cluster id", "cluster_id", id)
		return id, nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) != 1 {
		return "", fmt.Errorf("%w: cluster id key %q exists and reads as %d values", errCorrupt, key, len(kvs))
	}
	got := string(kvs[0].Value)
	if err := metadata.ValidateClusterID(got); err != nil {
		return "", fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return got, nil
}

// readAll reads every key under the prefix at one revision, in pages.
func (b *Backend) readAll(ctx context.Context, cli *clientv3.Client) (int64, []*mvccpb.KeyValue, error) {
	var (
		rev  int64
		kvs  []*mvccpb.KeyValue
		from = b.keys.prefix
		end  = clientv3.GetPrefixRangeEnd(b.keys.prefix)
	)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(snapshotPage)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := cli.Get(ctx, from, opts...)
		if err != nil {
			return 0, nil, err
		}
		b.leader.observe(resp.Header)
		if rev == 0 {
			rev = resp.Header.Revision
		}
		kvs = append(kvs, resp.Kvs...)
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, kvs, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// decodeState builds the state from every key-value under the prefix.
func (b *Backend) decodeState(kvs []*mvccpb.KeyValue) (metadata.State, error) {
	st := metadata.NewState()
	topics := map[string]*mvccpb.KeyValue{}
	chunks := map[string]map[int]*mvccpb.KeyValue{}
	for _, kv := range kvs {
		k := b.keys.parse(kv.Key)
		switch k.kind {
		case kindBroker:
			br, err := decodeBroker(kv)
			if err != nil {
				return st, err
			}
			st.Brokers[br.ID] = br
		case kindTopic:
			topics[k.topic] = kv
		case kindChunk:
			if chunks[k.topic] == nil {
				chunks[k.topic] = map[int]*mvccpb.KeyValue{}
			}
			chunks[k.topic][k.first] = kv
		case kindProducerIDs:
			next, err := strconv.ParseInt(string(kv.Value), 10, 64)
			if err != nil || next < 0 {
				return st, fmt.Errorf("producer-id counter %q", kv.Value)
			}
			st.NextProducerID = next
		case kindClusterID:
			id := string(kv.Value)
			if err := metadata.ValidateClusterID(id); err != nil {
				return st, err
			}
			st.ClusterID = id
		}
	}
	for name, tkv := range topics {
		t, err := assembleTopic(tkv, chunks[name])
		if err != nil {
			return st, err
		}
		st.Topics[name] = t
	}
	return st, nil
}

// Watch delivers every change after from; see metadata.Backend. It is an
// etcd watch of the prefix from revision from+1 (from 0: revision 1, the
// beginning of etcd's history), with clientv3.WithRequireLeader so that a
// member cut off from its quorum ends the stream instead of serving a
// silent, stale one. Each etcd revision that changes contract state becomes
// one WatchBatch with that revision (a transaction is one revision);
// revisions that only touch session keys (lease expiry, re-attachment) or
// keys outside the layout are skipped.
//
// When the etcd stream breaks (a member down, the network, a lost leader),
// the watch resumes by itself from the last revision it delivered, on any
// endpoint, until ctx ends: nothing is lost or repeated. A resume point
// that etcd compacted meanwhile ends the stream with an ErrCompacted batch,
// unless this cluster did not change since (then nothing was lost and the
// stream goes on from etcd's current revision). Likewise Watch returns
// ErrCompacted itself if from is compacted at the call and this cluster
// changed after it; a from after the current revision waits for it. When the backend closes, the
// stream ends with an ErrUnavailable batch; when ctx ends it just closes.
func (b *Backend) Watch(ctx context.Context, from metadata.Revision) (<-chan metadata.WatchBatch, error) {
	what := fmt.Sprintf("watch from revision %d", from)
	if from < 0 {
		return nil, fmt.Errorf("etcdmeta: %s: %w", what, metadata.ErrInvalid)
	}
	next, err := b.startAt(ctx, int64(from))
	if err != nil {
		return nil, err
	}
	out := make(chan metadata.WatchBatch, 16)
	if !b.goBackground(func() { b.runWatch(ctx, next, out) }) {
		return nil, fmt.Errorf("etcdmeta: %s: %w", what, errClosed)
	}
	return out, nil
}

// startAt returns the etcd revision a watch from rev starts at: rev+1,
// unless etcd no longer has revision rev, that is if rev is before etcd's
// compaction revision C (etcd's own watch would accept a start at C, i.e.
// Watch(C-1), although the history up to C is gone: Compact(C) discards it
// in the contract's terms). Then see afterCompaction. A future revision is
// fine: the watch waits for it.
func (b *Backend) startAt(ctx context.Context, rev int64) (int64, error) {
	what := fmt.Sprintf("watch from revision %d", rev)
	if rev == 0 {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("etcdmeta: %s: %w", what, err)
		}
		return 1, nil
	}
	cli, octx, done, err := b.op(ctx, what)
	if err != nil {
		return 0, err
	}
	defer done()
	bo := &backoff{max: 500 * time.Millisecond}
	for {
		actx, cancel := b.attempt(octx)
		resp, err := cli.Get(actx, b.keys.changed(), clientv3.WithRev(rev), clientv3.WithCountOnly())
		if errors.Is(err, rpctypes.ErrCompacted) {
			var next int64
			if next, err = b.afterCompaction(actx, cli, rev); err == nil {
				cancel()
				return next, nil
			}
		}
		cancel()
		switch {
		case err == nil:
			b.leader.observe(resp.Header)
			return rev + 1, nil
		case errors.Is(err, rpctypes.ErrFutureRev):
			return rev + 1, nil
		case errors.Is(err, metadata.ErrCompacted):
			return 0, fmt.Errorf("etcdmeta: %s: %w", what, err)
		case b.retry(octx, bo, what, err):
			continue
		}
		return 0, b.wrap(octx, what, err)
	}
}

// afterCompaction is where a stream that delivered everything up to rev
// goes on when etcd compacted its history past rev: if this cluster did not
// change after rev (the changed key's mod revision is at most rev), at
// etcd's current revision + 1, as nothing was lost; otherwise the stream
// cannot go on: ErrCompacted.
func (b *Backend) afterCompaction(ctx context.Context, cli *clientv3.Client, rev int64) (int64, error) {
	resp, err := cli.Get(ctx, b.keys.changed())
	if err != nil {
		return 0, err
	}
	b.leader.observe(resp.Header)
	if len(resp.Kvs) > 0 && resp.Kvs[0].ModRevision > rev {
		return 0, fmt.Errorf("history after revision %d compacted, and changed at %d: %w", rev, resp.Kvs[0].ModRevision, metadata.ErrCompacted)
	}
	return resp.Header.Revision + 1, nil
}

// runWatch feeds out from etcd watches of the prefix, starting at revision
// next and resuming after every break. Owned by the backend.
func (b *Backend) runWatch(ctx context.Context, next int64, out chan metadata.WatchBatch) {
	// end delivers a last Err batch (unless ctx ended) and closes out. It
	// never blocks past Close.
	end := func(err error) {
		if err == nil || ctx.Err() != nil {
			close(out)
			return
		}
		if !errors.Is(err, errClosed) {
			select {
			case out <- metadata.WatchBatch{Err: err}:
				close(out)
				return
			case <-ctx.Done():
				close(out)
				return
			case <-b.ctx.Done():
				err = errClosed
			}
		}
		endWith(out, err)
	}
	wctxBase, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	stop := context.AfterFunc(b.ctx, cancelAll)
	defer stop()

	backoff := newBackoff()
	for {
		if ctx.Err() != nil {
			end(nil)
			return
		}
		if b.ctx.Err() != nil {
			end(errClosed)
			return
		}
		cli, err := b.client(wctxBase)
		if err != nil {
			pause(wctxBase, backoff.next()) //nolint:errcheck // the loop checks the contexts
			continue
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(wctxBase))
		wch := cli.Watch(wctx, b.keys.prefix, clientv3.WithPrefix(), clientv3.WithRev(next))
		var failed error
		for resp := range wch {
			b.leader.observe(resp.Header)
			if resp.CompactRevision != 0 {
				actx, acancel := b.attempt(wctxBase)
				n, err := b.afterCompaction(actx, cli, next-1)
				acancel()
				if errors.Is(err, metadata.ErrCompacted) {
					cancel()
					end(fmt.Errorf("etcdmeta: watch resuming at revision %d: etcd compacted its history up to %d: %w", next, resp.CompactRevision, err))
					return
				}
				if err == nil {
					next = n
				}
				failed = fmt.Errorf("etcd compacted its history up to %d", resp.CompactRevision)
				break
			}
			if err := resp.Err(); err != nil {
				failed = err
				break
			}
			batches, last, err := b.mapEvents(resp.Events)
			if err != nil {
				cancel()
				end(b.corrupt("watch", err))
				return
			}
			for _, batch := range batches {
				select {
				case out <- batch:
				case <-wctxBase.Done():
				}
				if wctxBase.Err() != nil {
					break
				}
				next = int64(batch.Revision) + 1
			}
			if wctxBase.Err() != nil {
				break
			}
			if last >= next {
				next = last + 1
			}
			backoff.reset()
		}
		cancel()
		if wctxBase.Err() == nil {
			if failed == nil {
				failed = errors.New("stream closed")
			}
			b.log.Debug("etcd watch broke; resuming", "next", next, "err", failed)
			pause(wctxBase, backoff.after(failed)) //nolint:errcheck // the loop checks the contexts
		}
	}
}

// mapEvents turns the events of one etcd watch response (whole revisions,
// in order) into contract batches, one per revision that has contract
// events. last is the revision of the last event.
func (b *Backend) mapEvents(evs []*clientv3.Event) (batches []metadata.WatchBatch, last int64, err error) {
	for i := 0; i < len(evs); {
		rev := evs[i].Kv.ModRevision
		j := i
		for j < len(evs) && evs[j].Kv.ModRevision == rev {
			j++
		}
		batch, err := b.mapRevision(rev, evs[i:j])
		if err != nil {
			return nil, 0, fmt.Errorf("revision %d: %w", rev, err)
		}
		if len(batch.Events) > 0 {
			batches = append(batches, batch)
		}
		last = rev
		i = j
	}
	return batches, last, nil
}

// mapRevision maps the events of one etcd revision to contract events:
//
//	brokers/<id> put       BrokerRegistered, or BrokerFenced if fenced
//	brokers/<id> delete    BrokerUnregistered
//	topics/<t> put         TopicCreated (the record's first version) or
//	                       TopicUpdated (a later one: TopicUpdater), with
//	                       the partition chunks of the same revision, which
//	                       are all of them
//	topics/<t> delete      TopicDeleted (its chunk deletes are part of it)
//	partitions/<t>/<f> put PartitionChanged for the chunk's Changed
//	                       partition, unless the topic record was written
//	                       in the same revision
//	producer-ids put       ProducerIDsAllocated
//	anything else          nothing (sessions, the cluster id, which
//	                       never changes, foreign keys)
func (b *Backend) mapRevision(rev int64, evs []*clientv3.Event) (metadata.WatchBatch, error) {
	batch := metadata.WatchBatch{Revision: metadata.Revision(rev)}
	created := map[string]bool{}
	for _, ev := range evs {
		if k := b.keys.parse(ev.Kv.Key); k.kind == kindTopic && ev.Type == clientv3.EventTypePut {
			created[k.topic] = true
		}
	}
	for _, ev := range evs {
		kv := ev.Kv
		k := b.keys.parse(kv.Key)
		put := ev.Type == clientv3.EventTypePut
		switch {
		case k.kind == kindBroker && put:
			br, err := decodeBroker(kv)
			if err != nil {
				return batch, err
			}
			typ := metadata.EventBrokerRegistered
			if br.Fenced {
				typ = metadata.EventBrokerFenced
			}
			batch.Events = append(batch.Events, metadata.Event{Type: typ, Broker: br})
		case k.kind == kindBroker:
			batch.Events = append(batch.Events, metadata.Event{Type: metadata.EventBrokerUnregistered, BrokerID: k.id})
		case k.kind == kindTopic && put:
			chunks := map[int]*mvccpb.KeyValue{}
			for _, cev := range evs {
				if ck := b.keys.parse(cev.Kv.Key); ck.kind == kindChunk && ck.topic == k.topic && cev.Type == clientv3.EventTypePut {
					chunks[ck.first] = cev.Kv
				}
			}
			t, err := assembleTopic(kv, chunks)
			if err != nil {
				return batch, err
			}
			typ := metadata.EventTopicCreated
			if kv.CreateRevision != kv.ModRevision {
				typ = metadata.EventTopicUpdated // an AddPartitions or SetTopicConfigs
			}
			batch.Events = append(batch.Events, metadata.Event{Type: typ, Topic: t})
		case k.kind == kindTopic:
			batch.Events = append(batch.Events, metadata.Event{Type: metadata.EventTopicDeleted, TopicName: k.topic})
		case k.kind == kindChunk && put && !created[k.topic]:
			c, err := decodeChunk(kv)
			if err != nil {
				return batch, err
			}
			i := c.Changed - k.first
			if c.Changed < 0 || i >= len(c.Partitions) {
				return batch, fmt.Errorf("partition chunk %q rewritten with changed partition %d outside it", kv.Key, c.Changed)
			}
			batch.Events = append(batch.Events, metadata.Event{Type: metadata.EventPartitionChanged,
				Partition: c.Partitions[i].partition(k.topic, c.Changed)})
		case k.kind == kindProducerIDs && put:
			next, err := strconv.ParseInt(string(kv.Value), 10, 64)
			if err != nil {
				return batch, fmt.Errorf("producer-id counter %q", kv.Value)
			}
			batch.Events = append(batch.Events, metadata.Event{Type: metadata.EventProducerIDsAllocated, NextProducerID: next})
		}
	}
	return batch, nil
}

// endWith ends a stream with an Err batch without blocking: out's only
// sender is the caller, so once a batch not yet received is taken back out
// of the full buffer, the Err batch fits. Used when the backend closes.
func endWith(out chan metadata.WatchBatch, err error) {
	for {
		select {
		case out <- metadata.WatchBatch{Err: err}:
			close(out)
			return
		default:
			select {
			case <-out:
			default:
			}
		}
	}
}
