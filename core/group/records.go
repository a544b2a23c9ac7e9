package group

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/commitlog"
)

// Records of the offsets topic, in Kafka's own format (so that Kafka tools
// reading __consumer_offsets understand them, and a log written by Kafka
// would load): keys and values are kmsg.OffsetCommitKey/Value and
// kmsg.GroupMetadataKey/Value; a record with a null value is a tombstone
// for its key. The key's leading int16 version tells the two apart:
//
//	key version  key                          value (nil: tombstone)
//	0, 1         OffsetCommitKey              OffsetCommitValue v3 (v1 when
//	             group, topic, partition      an explicit expire timestamp
//	                                          was committed, OffsetCommit v2-4)
//	2            GroupMetadataKey  group      GroupMetadataValue v3
//
// Records are written as one uncompressed magic 2 batch per write, without
// producer id (a plain acks=all append to the partition's log).

// record is one decoded key/value of the offsets topic.
type record struct {
	offset int64 // log offset
	// Exactly one of the keys is set.
	offKey   *kmsg.OffsetCommitKey
	groupKey *kmsg.GroupMetadataKey
	// Values; nil for a tombstone.
	offVal   *kmsg.OffsetCommitValue
	groupVal *kmsg.GroupMetadataValue
}

// kv is an encoded key and value (nil value: tombstone).
type kv struct{ key, value []byte }

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: 1, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: 2, Group: group}
	return k.AppendTo(nil)
}

func offsetValue(c committed) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = 3
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = c.offset, c.leaderEpoch, c.metadata, c.commitTime
	if c.expireTime >= 0 {
		v.Version = 1
		v.ExpireTimestamp = c.expireTime
	}
	return v.AppendTo(nil)
}

// encodeBatch returns one magic 2 batch holding recs, timestamped now (ms).
// The base offset and leader epoch are the log's to set.
func encodeBatch(recs []kv, now int64) []byte {
	var body []byte
	var rec []byte
	for i, r := range recs {
		rec = rec[:0]
		rec = append(rec, 0)                     // attributes
		rec = binary.AppendVarint(rec, 0)        // timestamp delta
		rec = binary.AppendVarint(rec, int64(i)) // offset delta
		rec = binary.AppendVarint(rec, int64(len(r.key)))
		rec = append(rec, r.key...)
		if r.value == nil {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.value)))
			rec = append(rec, r.value...)
		}
		rec = binary.AppendVarint(rec, 0) // headers
		body = binary.AppendVarint(body, int64(len(rec)))
		body = append(body, rec...)
	}
	b := make([]byte, commitlog.HeaderSize, commitlog.HeaderSize+len(body))
	be := binary.BigEndian
	be.PutUint64(b[0:], 0)
	be.PutUint32(b[8:], uint32(commitlog.HeaderSize-commitlog.LogOverhead+len(body)))
	be.PutUint32(b[12:], 0xffffffff) // leader epoch: set by the log
	b[16] = 2
	be.PutUint16(b[21:], 0)
	be.PutUint32(b[23:], uint32(len(recs)-1))
	be.PutUint64(b[27:], uint64(now))
	be.PutUint64(b[35:], uint64(now))
	be.PutUint64(b[43:], 0xffffffffffffffff) // producer id -1
	be.PutUint16(b[51:], 0xffff)             // producer epoch -1
	be.PutUint32(b[53:], 0xffffffff)         // base sequence -1
	be.PutUint32(b[57:], uint32(len(recs)))
	b = append(b, body...)
	be.PutUint32(b[17:], commitlog.ComputeCRC(b))
	return b
}

// decodeBatches calls fn for every record of the whole batches in data
// and returns the offset after the last batch read (next, or from when
// data holds no whole batch). Control and transactional batches are
// skipped, and so are records that do not decode (counted in bad: a
// record some other writer put in the topic must not stop a load).
// Compressed batches are refused: the coordinator writes none.
func decodeBatches(data []byte, from int64, fn func(record)) (next int64, bad int, err error) {
	next = from
	for len(data) >= commitlog.HeaderSize {
		h, err := commitlog.ParseHeader(data)
		if err != nil {
			return next, bad, fmt.Errorf("%w: %w", ErrCorruptRecord, err)
		}
		size := h.Size()
		if size > len(data) {
			break
		}
		batch := data[:size]
		data = data[size:]
		next = h.NextOffset()
		if h.Control() || h.Transactional() {
			continue
		}
		if h.Compression() != commitlog.CompressionNone {
			return next, bad, fmt.Errorf("%w: compressed batch (%v) at offset %d", ErrCorruptRecord, h.Compression(), h.BaseOffset)
		}
		body := batch[commitlog.HeaderSize:]
		for i := int32(0); i < h.NumRecords; i++ {
			n, sz := binary.Varint(body)
			if sz <= 0 || n < 0 || int64(len(body)-sz) < n {
				return next, bad, fmt.Errorf("%w: bad record length in batch at offset %d", ErrCorruptRecord, h.BaseOffset)
			}
			var kr kmsg.Record
			if err := kr.ReadFrom(body[:sz+int(n)]); err != nil {
				return next, bad, fmt.Errorf("%w: record in batch at offset %d: %v", ErrCorruptRecord, h.BaseOffset, err)
			}
			body = body[sz+int(n):]
			rec, err := decodeRecord(kr.Key, kr.Value)
			if err != nil {
				bad++
				continue
			}
			if rec.offKey == nil && rec.groupKey == nil {
				continue // a record type this coordinator does not use
			}
			rec.offset = h.BaseOffset + int64(kr.OffsetDelta)
			fn(rec)
		}
	}
	return next, bad, nil
}

// decodeRecord decodes one key and value of the offsets topic.
func decodeRecord(key, value []byte) (record, error) {
	if len(key) < 2 {
		return record{}, fmt.Errorf("%w: key of %d bytes", ErrCorruptRecord, len(key))
	}
	var r record
	switch int16(binary.BigEndian.Uint16(key)) {
	case 0, 1:
		r.offKey = new(kmsg.OffsetCommitKey)
		if err := r.offKey.ReadFrom(key); err != nil {
			return record{}, fmt.Errorf("%w: offset commit key: %v", ErrCorruptRecord, err)
		}
		if value != nil {
			r.offVal = new(kmsg.OffsetCommitValue)
			if err := r.offVal.ReadFrom(value); err != nil {
				return record{}, fmt.Errorf("%w: offset commit value: %v", ErrCorruptRecord, err)
			}
		}
	case 2:
		r.groupKey = new(kmsg.GroupMetadataKey)
		if err := r.groupKey.ReadFrom(key); err != nil {
			return record{}, fmt.Errorf("%w: group metadata key: %v", ErrCorruptRecord, err)
		}
		if value != nil {
			r.groupVal = new(kmsg.GroupMetadataValue)
			if err := r.groupVal.ReadFrom(value); err != nil {
				return record{}, fmt.Errorf("%w: group metadata value: %v", ErrCorruptRecord, err)
			}
		}
	default:
		// Newer Kafka record types (KIP-848 consumer groups, share
		// groups): not ours, skipped.
	}
	return r, nil
}
