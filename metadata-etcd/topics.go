package etcdmeta

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// opOverhead is a generous bound of the protobuf bytes an etcd Put costs
// beyond its key and value, and txnOverhead of a transaction beyond its
// operations (compares, headers of the raft entry).
const (
	opOverhead  = 16
	txnOverhead = 4096
)

// CreateTopic writes the topic record and all its partition keys in one
// etcd transaction, guarded by the topic key's absence; see
// metadata.Backend and doc.go for how partitions are grouped into keys so
// that any topic fits etcd's --max-txn-ops. A topic whose encoding does not
// fit etcd's --max-request-bytes fails with metadata.ErrInvalid saying so.
// With ErrTopicExists the existing topic is returned as well.
func (b *Backend) CreateTopic(ctx context.Context, spec metadata.TopicSpec) (metadata.Topic, error) {
	if err := metadata.ValidateTopicSpec(spec); err != nil {
		return metadata.Topic{}, err
	}
	what := fmt.Sprintf("create topic %q", spec.Name)
	n := len(spec.Partitions)
	size := chunkSize(n, b.cfg.MaxTxnOps)
	t := metadata.Topic{Name: spec.Name, ID: spec.ID, Configs: maps.Clone(spec.Configs), Partitions: make([]metadata.Partition, n)}
	for i, ps := range spec.Partitions {
		isr := ps.ISR
		if len(isr) == 0 {
			isr = ps.Replicas
		}
		t.Partitions[i] = metadata.Partition{Topic: spec.Name, Partition: int32(i),
			Replicas: slices.Clone(ps.Replicas), Leader: ps.Leader, ISR: slices.Clone(isr)}
	}
	rec := topicRecord{Name: spec.Name, ID: hex.EncodeToString(spec.ID[:]), Configs: spec.Configs, Partitions: n, ChunkSize: size}
	tkey, tval := b.keys.topic(spec.Name), mustJSON(rec)
	ops := []clientv3.Op{clientv3.OpPut(tkey, tval), b.touch()}
	bytes := txnOverhead + len(tkey) + len(tval) + len(b.keys.changed()) + 2*opOverhead
	for first := 0; first < n; first += size {
		c := chunkRecord{Changed: -1}
		for _, p := range t.Partitions[first:min(first+size, n)] {
			c.Partitions = append(c.Partitions, toPartitionRecord(p))
		}
		key, val := b.keys.chunk(spec.Name, first), mustJSON(c)
		ops = append(ops, clientv3.OpPut(key, val))
		bytes += len(key) + len(val) + opOverhead
	}
	if bytes > b.cfg.MaxRequestBytes {
		return metadata.Topic{}, fmt.Errorf("etcdmeta: %s: its %d partitions take about %d bytes, more than one etcd request may carry (%s %d, the server's --max-request-bytes): %w",
			what, n, bytes, SettingMaxRequestBytes, b.cfg.MaxRequestBytes, metadata.ErrInvalid)
	}
	cli, ctx, done, err := b.op(ctx, what)
	if err != nil {
		return metadata.Topic{}, err
	}
	defer done()
	bo := &backoff{max: 500 * time.Millisecond}
	// unknown is set once a commit's outcome is unknown: finding the topic
	// with our id afterwards means that commit went through.
	unknown := false
	for {
		actx, cancel := b.attempt(ctx)
		resp, err := cli.Txn(actx).
			If(clientv3.Compare(clientv3.CreateRevision(tkey), "=", 0)).
			Then(ops...).
			Else(clientv3.OpGet(tkey), clientv3.OpGet(b.keys.partitions(spec.Name), clientv3.WithPrefix())).
			Commit()
		cancel()
		if err != nil {
			unknown = true
			if b.retry(ctx, bo, what, err) {
				continue
			}
			return metadata.Topic{}, b.wrap(ctx, what, err)
		}
		b.leader.observe(resp.Header)
		if resp.Succeeded {
			t.CreatedAt = metadata.Revision(resp.Header.Revision)
			return t, nil
		}
		tkvs := resp.Responses[0].GetResponseRange().Kvs
		if len(tkvs) == 0 {
			continue // deleted meanwhile
		}
		old, err := assembleTopic(tkvs[0], chunksByFirst(b.keys, resp.Responses[1].GetResponseRange().Kvs))
		if err != nil {
			return metadata.Topic{}, fmt.Errorf("etcdmeta: %s: exists, and reading it failed: %v: %w", what, err, metadata.ErrTopicExists)
		}
		if unknown && old.ID == spec.ID {
			return old, nil
		}
		return old, fmt.Errorf("etcdmeta: %s: %w", what, metadata.ErrTopicExists)
	}
}

// chunksByFirst indexes partition chunk key-values by first partition.
func chunksByFirst(l layout, kvs []*mvccpb.KeyValue) map[int]*mvccpb.KeyValue {
	m := make(map[int]*mvccpb.KeyValue, len(kvs))
	for _, kv := range kvs {
		if k := l.parse(kv.Key); k.kind == kindChunk {
			m[k.first] = kv
		}
	}
	return m
}

// DeleteTopic deletes the topic record and its partition keys in one
// transaction; see metadata.Backend.
func (b *Backend) DeleteTopic(ctx context.Context, name string) error {
	what := fmt.Sprintf("delete topic %q", name)
	if name == "" {
		return fmt.Errorf("etcdmeta: %s: %w", what, metadata.ErrUnknownTopic)
	}
	cli, ctx, done, err := b.op(ctx, what)
	if err != nil {
		return err
	}
	defer done()
	tkey := b.keys.topic(name)
	bo := &backoff{max: 500 * time.Millisecond}
	unknown := false // a delete's outcome is unknown
	for {
		actx, cancel := b.attempt(ctx)
		resp, err := cli.Txn(actx).
			If(clientv3.Compare(clientv3.CreateRevision(tkey), ">", 0)).
			Then(clientv3.OpDelete(tkey), clientv3.OpDelete(b.keys.partitions(name), clientv3.WithPrefix()), b.touch()).
			Commit()
		cancel()
		if err != nil {
			unknown = true
			if b.retry(ctx, bo, what, err) {
				continue
			}
			return b.wrap(ctx, what, err)
		}
		b.leader.observe(resp.Header)
		if !resp.Succeeded && !unknown {
			return fmt.Errorf("etcdmeta: %s: %w", what, metadata.ErrUnknownTopic)
		}
		// Gone after an attempt of ours: that attempt (or a concurrent
		// delete) removed it.
		return nil
	}
}

// AlterPartition is a compare-and-set of one partition: it reads the topic
// record and the key holding the partition, checks the change (errors in the
// order ErrUnknownTopic, ErrInvalid, ErrStaleEpoch, as the memory backend),
// and writes the key back comparing its mod revision. When the key changed
// meanwhile (another partition of the same chunk, for topics too large for
// a key per partition) it reads again. See metadata.Backend. A nil
// change.Replicas keeps the assignment and the reassignment in progress; a
// non-nil empty one is ErrInvalid (see metadata.ValidateChange).
func (b *Backend) AlterPartition(ctx context.Context, ch metadata.PartitionChange) (metadata.Partition, error) {
	what := fmt.Sprintf("alter partition %s/%d", ch.Topic, ch.Partition)
	if ch.Topic == "" || ch.Partition < 0 {
		return metadata.Partition{}, fmt.Errorf("etcdmeta: %s: %w", what, metadata.ErrUnknownTopic)
	}
	cli, ctx, done, err := b.op(ctx, what)
	if err != nil {
		return metadata.Partition{}, err
	}
	defer done()
	bo := &backoff{max: 500 * time.Millisecond}
	// wrote is what an attempt whose outcome is unknown wrote: finding it
	// stored afterwards means that attempt went through.
	var wrote *partitionRecord
	for {
		actx, cancel := b.attempt(ctx)
		part, ok, err := b.alterOnce(actx, cli, ch, &wrote)
		cancel()
		if err != nil {
			if errors.Is(err, metadata.ErrUnknownTopic) || errors.Is(err, metadata.ErrInvalid) || errors.Is(err, metadata.ErrStaleEpoch) {
				return metadata.Partition{}, fmt.Errorf("etcdmeta: %s: %w", what, err)
			}
			if b.retry(ctx, bo, what, err) {
				continue
			}
			return metadata.Partition{}, b.wrap(ctx, what, err)
		}
		if ok {
			return part, nil
		}
	}
}

// alterOnce makes one attempt of AlterPartition; ok false means "again".
func (b *Backend) alterOnce(ctx context.Context, cli *clientv3.Client, ch metadata.PartitionChange, wrote **partitionRecord) (metadata.Partition, bool, error) {
	p := int(ch.Partition)
	resp, err := cli.Txn(ctx).Then(
		clientv3.OpGet(b.keys.topic(ch.Topic)),
		// The chunk holding p: the last key at or before p's.
		clientv3.OpGet(b.keys.partitions(ch.Topic), clientv3.WithRange(b.keys.chunk(ch.Topic, p+1)),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(1)),
	).Commit()
	if err != nil {
		return metadata.Partition{}, false, err
	}
	b.leader.observe(resp.Header)
	tkvs := resp.Responses[0].GetResponseRange().Kvs
	ckvs := resp.Responses[1].GetResponseRange().Kvs
	if len(tkvs) == 0 {
		return metadata.Partition{}, false, metadata.ErrUnknownTopic
	}
	rec, _, err := decodeTopicRecord(tkvs[0])
	if err != nil {
		return metadata.Partition{}, false, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	if p >= rec.Partitions {
		return metadata.Partition{}, false, fmt.Errorf("the topic has %d partitions: %w", rec.Partitions, metadata.ErrUnknownTopic)
	}
	first := p - p%rec.ChunkSize
	if len(ckvs) == 0 || b.keys.parse(ckvs[0].Key).first != first {
		return metadata.Partition{}, false, fmt.Errorf("%w: partition chunk %d missing", errCorrupt, first)
	}
	ckv := ckvs[0]
	chunk, err := decodeChunk(ckv)
	if err != nil {
		return metadata.Partition{}, false, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	if p-first >= len(chunk.Partitions) {
		return metadata.Partition{}, false, fmt.Errorf("%w: partition chunk %d holds %d partitions", errCorrupt, first, len(chunk.Partitions))
	}
	cur := chunk.Partitions[p-first]
	if w := *wrote; w != nil && sameRecord(*w, cur) {
		return cur.partition(ch.Topic, p), true, nil
	}
	replicas, adding, removing, err := metadata.ValidateChange(cur.partition(ch.Topic, p), ch)
	if err != nil {
		return metadata.Partition{}, false, err
	}
	if ch.ExpectedPartitionEpoch != cur.PartitionEpoch {
		return metadata.Partition{}, false, fmt.Errorf("at partition epoch %d, current %d: %w",
			ch.ExpectedPartitionEpoch, cur.PartitionEpoch, metadata.ErrStaleEpoch)
	}
	next := partitionRecord{
		Replicas:       replicas,
		Adding:         adding,
		Removing:       removing,
		Leader:         ch.Leader,
		LeaderEpoch:    cur.LeaderEpoch,
		ISR:            slices.Clone(ch.ISR),
		PartitionEpoch: cur.PartitionEpoch + 1,
	}
	if ch.Leader != cur.Leader {
		next.LeaderEpoch++
	}
	chunk.Partitions[p-first] = next
	chunk.Changed = p
	wr, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(string(ckv.Key)), "=", ckv.ModRevision)).
		Then(clientv3.OpPut(string(ckv.Key), mustJSON(chunk)), b.touch()).
		Commit()
	if err != nil {
		*wrote = &next
		return metadata.Partition{}, false, err
	}
	b.leader.observe(wr.Header)
	if !wr.Succeeded {
		return metadata.Partition{}, false, nil
	}
	return next.partition(ch.Topic, p), true, nil
}

// sameRecord compares two partition records, nil and empty lists alike.
func sameRecord(a, b partitionRecord) bool {
	return slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR) && a.Leader == b.Leader &&
		slices.Equal(a.Adding, b.Adding) && slices.Equal(a.Removing, b.Removing) &&
		a.LeaderEpoch == b.LeaderEpoch && a.PartitionEpoch == b.PartitionEpoch
}

// corrupt reports stored data that does not follow the layout: the backend
// cannot serve a right answer, so it serves none.
func (b *Backend) corrupt(what string, err error) error {
	return fmt.Errorf("etcdmeta: %s: under %q: %w: %v", what, b.cfg.Prefix, errCorrupt, err)
}

// AllocateProducerIDs advances the producer-id counter by n with a
// compare-and-set on its mod revision; see metadata.Backend. ErrInvalid if
// n <= 0 or the counter would overflow.
func (b *Backend) AllocateProducerIDs(ctx context.Context, n int) (int64, error) {
	what := fmt.Sprintf("allocate %d producer ids", n)
	if n <= 0 {
		return 0, fmt.Errorf("etcdmeta: %s: %w", what, metadata.ErrInvalid)
	}
	cli, ctx, done, err := b.op(ctx, what)
	if err != nil {
		return 0, err
	}
	defer done()
	key := b.keys.producerIDs()
	bo := &backoff{max: 500 * time.Millisecond}
	for {
		actx, cancel := b.attempt(ctx)
		first, ok, err := b.allocateOnce(actx, cli, key, n)
		cancel()
		if err != nil {
			if b.retry(ctx, bo, what, err) {
				continue
			}
			if errors.Is(err, metadata.ErrInvalid) {
				return 0, fmt.Errorf("etcdmeta: %s: %w", what, err)
			}
			return 0, b.wrap(ctx, what, err)
		}
		if ok {
			return first, nil
		}
	}
}

// allocateOnce makes one attempt. A retry after a commit whose outcome is
// unknown may waste a block, never hand one out twice.
func (b *Backend) allocateOnce(ctx context.Context, cli *clientv3.Client, key string, n int) (int64, bool, error) {
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return 0, false, err
	}
	b.leader.observe(resp.Header)
	var first, modRev int64
	if len(resp.Kvs) > 0 {
		modRev = resp.Kvs[0].ModRevision
		if first, err = strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64); err != nil || first < 0 {
			return 0, false, fmt.Errorf("%w: producer-id counter %q", errCorrupt, resp.Kvs[0].Value)
		}
	}
	if first > (1<<63-1)-int64(n) {
		return 0, false, fmt.Errorf("counter exhausted: %w", metadata.ErrInvalid)
	}
	wr, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
		Then(clientv3.OpPut(key, strconv.FormatInt(first+int64(n), 10)), b.touch()).
		Commit()
	if err != nil {
		return 0, false, err
	}
	b.leader.observe(wr.Header)
	return first, wr.Succeeded, nil
}
