package etcdmeta

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chronik-go/chronik/plugins/metadata"
)

var _ metadata.TopicUpdater = (*Backend)(nil)

// AddPartitions implements metadata.TopicUpdater: it reads the topic
// record and all its partition chunks, and rewrites them in one etcd
// transaction (the record with the new count, every chunk, the chunks of
// the new partitions, and the changed key) that compares the record's mod
// revision and that no chunk changed since the read; a concurrent change
// makes it read again. The watch maps that transaction to one
// EventTopicUpdated with the whole topic. When the grown topic's chunks no
// longer fit one transaction, the partitions are regrouped into larger
// chunks (the old keys deleted in the same transaction); a topic that
// cannot fit etcd's limits fails with metadata.ErrInvalid.
//
// Errors as the memory backend: ErrInvalid for no partitions or a bad
// partition spec, ErrUnknownTopic for an unknown topic, ErrStaleEpoch when
// the topic does not have exactly expectedCount partitions. Safe for
// concurrent use; a retry after a commit whose outcome is unknown returns
// the topic if that commit went through.
func (b *Backend) AddPartitions(ctx context.Context, topic string, expectedCount int32, parts []metadata.PartitionSpec) (metadata.Topic, error) {
	what := fmt.Sprintf("add partitions to %q", topic)
	if err := metadata.ValidateNewPartitions(topic, parts); err != nil {
		return metadata.Topic{}, err
	}
	added := make([]metadata.Partition, len(parts))
	for i, ps := range parts {
		isr := ps.ISR
		if len(isr) == 0 {
			isr = ps.Replicas
		}
		added[i] = metadata.Partition{Topic: topic, Partition: expectedCount + int32(i),
			Replicas: slices.Clone(ps.Replicas), Leader: ps.Leader, ISR: slices.Clone(isr)}
	}
	return b.updateTopic(ctx, what, topic, func(cur metadata.Topic, unknown bool) (metadata.Topic, bool, error) {
		n := len(cur.Partitions)
		if unknown && n == int(expectedCount)+len(parts) && samePartitions(cur.Partitions[expectedCount:], added) {
			return cur, true, nil // our earlier commit went through
		}
		if n != int(expectedCount) {
			return metadata.Topic{}, false, fmt.Errorf("has %d partitions, expected %d: %w", n, expectedCount, metadata.ErrStaleEpoch)
		}
		next := cur.Clone()
		next.Partitions = append(next.Partitions, added...)
		return next, false, nil
	})
}

// SetTopicConfigs implements metadata.TopicUpdater: it rewrites the topic
// record with the new configs (nil or empty clears them) and, so that the
// watch can deliver the whole topic as one EventTopicUpdated, the
// topic's partition chunks unchanged, in one transaction guarded as
// AddPartitions'. It is a compare-and-set: the configs read must equal
// expected (nil and empty alike), else ErrStaleEpoch; the transaction's
// guards make that read and the rewrite one atomic change.
// ErrUnknownTopic for an unknown topic. Safe for concurrent use; each call
// is one committed change.
func (b *Backend) SetTopicConfigs(ctx context.Context, topic string, expected, configs map[string]string) (metadata.Topic, error) {
	what := fmt.Sprintf("set configs of %q", topic)
	return b.updateTopic(ctx, what, topic, func(cur metadata.Topic, unknown bool) (metadata.Topic, bool, error) {
		if unknown && maps.Equal(cur.Configs, configs) {
			return cur, true, nil // our earlier commit went through
		}
		if !maps.Equal(cur.Configs, expected) {
			return metadata.Topic{}, false, fmt.Errorf("its configs are not the expected ones: %w", metadata.ErrStaleEpoch)
		}
		next := cur.Clone()
		next.Configs = nil
		if len(configs) > 0 {
			next.Configs = maps.Clone(configs)
		}
		return next, false, nil
	})
}

// samePartitions compares partition lists, nil and empty lists alike.
func samePartitions(a, b []metadata.Partition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Partition != b[i].Partition || !sameRecord(toPartitionRecord(a[i]), toPartitionRecord(b[i])) {
			return false
		}
	}
	return true
}

// topicChange computes the updated topic from the current one. finished
// means cur is already the result (a commit of an earlier attempt whose
// outcome was unknown, which unknown tells); an error is returned wrapped
// as it is.
type topicChange func(cur metadata.Topic, unknown bool) (next metadata.Topic, finished bool, err error)

// updateTopic runs a read-change-write of one topic until it commits, the
// change fails, or ctx ends.
func (b *Backend) updateTopic(ctx context.Context, what, name string, change topicChange) (metadata.Topic, error) {
	if name == "" {
		return metadata.Topic{}, fmt.Errorf("etcdmeta: %s: %w", what, metadata.ErrUnknownTopic)
	}
	cli, ctx, done, err := b.op(ctx, what)
	if err != nil {
		return metadata.Topic{}, err
	}
	defer done()
	bo := &backoff{max: 500 * time.Millisecond}
	unknown := false
	for {
		actx, cancel := b.attempt(ctx)
		t, ok, wrote, err := b.updateOnce(actx, cli, name, change, unknown)
		cancel()
		if err != nil {
			if errors.Is(err, metadata.ErrUnknownTopic) || errors.Is(err, metadata.ErrInvalid) || errors.Is(err, metadata.ErrStaleEpoch) {
				return metadata.Topic{}, fmt.Errorf("etcdmeta: %s: %w", what, err)
			}
			if wrote {
				unknown = true
			}
			if b.retry(ctx, bo, what, err) {
				continue
			}
			return metadata.Topic{}, b.wrap(ctx, what, err)
		}
		if ok {
			return t, nil
		}
	}
}

// updateOnce makes one attempt of updateTopic; ok false means "again".
// wrote reports an error of the write, whose outcome is unknown.
func (b *Backend) updateOnce(ctx context.Context, cli *clientv3.Client, name string, change topicChange, unknown bool) (t metadata.Topic, ok, wrote bool, err error) {
	tkey, pdir := b.keys.topic(name), b.keys.partitions(name)
	resp, err := cli.Txn(ctx).Then(clientv3.OpGet(tkey), clientv3.OpGet(pdir, clientv3.WithPrefix())).Commit()
	if err != nil {
		return metadata.Topic{}, false, false, err
	}
	b.leader.observe(resp.Header)
	tkvs := resp.Responses[0].GetResponseRange().Kvs
	if len(tkvs) == 0 {
		return metadata.Topic{}, false, false, metadata.ErrUnknownTopic
	}
	tkv := tkvs[0]
	old, _, err := decodeTopicRecord(tkv)
	if err != nil {
		return metadata.Topic{}, false, false, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	cur, err := assembleTopic(tkv, chunksByFirst(b.keys, resp.Responses[1].GetResponseRange().Kvs))
	if err != nil {
		return metadata.Topic{}, false, false, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	next, finished, err := change(cur, unknown)
	if err != nil || finished {
		return next, finished, false, err
	}
	ops, bytes, err := b.topicRewrite(next, old)
	if err != nil {
		return metadata.Topic{}, false, false, err
	}
	if bytes > b.cfg.MaxRequestBytes {
		return metadata.Topic{}, false, false, fmt.Errorf("its %d partitions take about %d bytes, more than one etcd request may carry (%s %d, the server's --max-request-bytes): %w",
			len(next.Partitions), bytes, SettingMaxRequestBytes, b.cfg.MaxRequestBytes, metadata.ErrInvalid)
	}
	wr, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(tkey), "=", tkv.ModRevision),
			clientv3.Compare(clientv3.ModRevision(pdir), "<", resp.Header.Revision+1).WithPrefix()).
		Then(ops...).
		Commit()
	if err != nil {
		return metadata.Topic{}, false, true, err
	}
	b.leader.observe(wr.Header)
	if !wr.Succeeded {
		return metadata.Topic{}, false, false, nil
	}
	return next, true, false, nil
}

// topicRewrite is the operations that store t over its previous record old:
// the topic record, the changed key and every partition chunk, in chunks of
// old's size while they fit one transaction, otherwise regrouped into
// larger chunks with the old keys between the new ones deleted (by ranges
// that never overlap a key written, as etcd requires). bytes bounds the
// request's size.
func (b *Backend) topicRewrite(t metadata.Topic, old topicRecord) (ops []clientv3.Op, bytes int, err error) {
	n, maxOps := len(t.Partitions), b.cfg.MaxTxnOps
	size := max(old.ChunkSize, chunkSize(n, maxOps))
	regroup := size != old.ChunkSize
	if regroup {
		// Each new chunk may need a delete range after it.
		room := max(1, (maxOps-2)/2)
		size = max(size, (n+room-1)/room)
	}
	rec := topicRecord{Name: t.Name, ID: old.ID, Configs: t.Configs, Partitions: n, ChunkSize: size}
	tkey, tval := b.keys.topic(t.Name), mustJSON(rec)
	ops = []clientv3.Op{clientv3.OpPut(tkey, tval), b.touch()}
	pdir := b.keys.partitions(t.Name)
	bytes = txnOverhead + len(tkey) + len(tval) + len(b.keys.changed()) + 2*opOverhead + 2*(len(tkey)+len(pdir)+opOverhead)
	for first := 0; first < n; first += size {
		c := chunkRecord{Changed: -1}
		for _, p := range t.Partitions[first:min(first+size, n)] {
			c.Partitions = append(c.Partitions, toPartitionRecord(p))
		}
		key, val := b.keys.chunk(t.Name, first), mustJSON(c)
		ops = append(ops, clientv3.OpPut(key, val))
		bytes += len(key) + len(val) + opOverhead
		if !regroup {
			continue
		}
		// Old chunk keys strictly between this chunk's key and the next's.
		hasOld := false
		for f := first + 1; f < min(first+size, old.Partitions); f++ {
			if f%old.ChunkSize == 0 {
				hasOld = true
				break
			}
		}
		if hasOld {
			end := clientv3.GetPrefixRangeEnd(pdir)
			if first+size < n {
				end = b.keys.chunk(t.Name, first+size)
			}
			ops = append(ops, clientv3.OpDelete(key+"\x00", clientv3.WithRange(end)))
			bytes += len(key) + 1 + len(end) + opOverhead
		}
	}
	if len(ops) > maxOps {
		return nil, 0, fmt.Errorf("its %d partitions take %d operations in one etcd transaction, more than %s %d (the server's --max-txn-ops): %w",
			n, len(ops), SettingMaxTxnOps, maxOps, metadata.ErrInvalid)
	}
	return ops, bytes, nil
}
