package protocol

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/core/partition"
)

// Produce (key 0): versions 3-13.
//
// Behaviour:
//   - Each partition's records are one record batch of magic 2, validated
//     (CRC-32C, lengths, record count, records, max.message.bytes) and
//     appended by the partition's leader on this broker; see
//     partition.Partition.Append for the producer checks. Versions 0-2
//     (magic 0/1 message sets) are not served, as in Kafka 4.0 (KIP-896);
//     a magic 0/1 batch, no batch or more than one batch in a partition is
//     INVALID_RECORD, as Kafka answers v3+; zstd before v7 is
//     UNSUPPORTED_COMPRESSION_TYPE. kafka-python 2.0 sends v7 with magic 2.
//   - A partition this broker does not lead is NOT_LEADER_OR_FOLLOWER (no
//     proxying), with the current leader and its endpoint from the image
//     (v10+); an unknown one UNKNOWN_TOPIC_OR_PARTITION (v13:
//     UNKNOWN_TOPIC_ID for an unknown topic id). Topics are not created
//     here: clients create them through Metadata. Internal topics
//     (__consumer_offsets) are INVALID_TOPIC_EXCEPTION: only the broker
//     writes them, as in Kafka.
//   - acks: 1 answers once appended; -1 once the high watermark passes the
//     batch (with the ISR at min.insync.replicas, else NOT_ENOUGH_REPLICAS
//     before appending or NOT_ENOUGH_REPLICAS_AFTER_APPEND), waiting up to
//     the request's timeout (then REQUEST_TIMED_OUT) without holding up the
//     connection (Request.Defer); 0 answers nothing, and when a partition
//     failed closes the connection, as Kafka does, so the client notices.
//     Other values: INVALID_REQUIRED_ACKS.
//   - The request's bytes are not kept once the response is ready: the
//     batches are copied into the log (the server recycles Produce request
//     frames after answering them; see core/server framepool.go).
//   - A transactional batch is TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//     (transactions are not supported; see InitProducerId).
//   - An idempotent producer's retry of one of its last five batches is
//     answered with the original offsets (success, as Kafka 2.5+).
//
// Version notes: v5 adds LogStartOffset, v7 zstd, v8 ErrorMessage and
// RecordErrors (chronik reports the reason in ErrorMessage and leaves
// RecordErrors empty), v9 is flexible, v10 the CurrentLeader and
// NodeEndpoints tags (KIP-951), v12 nothing for non-transactional
// producers, v13 topic ids instead of names.

func init() {
	Register(API{Key: 0, MinVersion: 3, MaxVersion: 13, Handle: handleProduce})
}

// pendingAck is an acks=-1 partition that is not acknowledged yet.
type pendingAck struct {
	p   *partition.Partition
	res partition.ProduceResult
	out *kmsg.ProduceResponseTopicPartition
}

func handleProduce(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.ProduceRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: Produce handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	img := brokerImage(b)
	var (
		pending []pendingAck
		failed  bool
		leaders map[int32]leaderInfo
	)
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		st := &resp.Topics[ti]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		name, idErr := rt.Topic, (*kerr.Error)(nil)
		if req.Version >= 13 {
			t, ok := img.TopicByID(rt.TopicID)
			if ok {
				name = t.Name
			} else {
				idErr = kerr.UnknownTopicID
			}
		}
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			sp := &st.Partitions[pi]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			fail := func(ke *kerr.Error, err error) {
				failed = true
				sp.ErrorCode = ke.Code
				if req.Version >= 8 {
					sp.ErrorMessage = partitionErrorMessage(err)
				}
				if ke == kerr.NotLeaderForPartition && req.Version >= 10 {
					li := currentLeader(img, name, rp.Partition)
					sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = li.id, li.epoch
					if li.id >= 0 {
						if leaders == nil {
							leaders = map[int32]leaderInfo{}
						}
						leaders[li.id] = li
					}
				}
			}
			if idErr != nil {
				fail(idErr, nil)
				continue
			}
			if isInternalTopic(name) {
				// As Kafka: only the broker writes its internal topics
				// (the group coordinator appends to __consumer_offsets
				// itself).
				fail(kerr.InvalidTopicException, fmt.Errorf("cannot append to internal topic %s", name))
				continue
			}
			if err := checkProduceRecords(req.Version, rp.Records); err != nil {
				fail(partitionError(err), err)
				continue
			}
			p, ke := lookupPartition(b, img, name, rp.Partition)
			if ke != nil {
				fail(ke, nil)
				continue
			}
			res, err := p.Append(rp.Records, req.Acks)
			if err != nil {
				fail(partitionError(err), err)
				continue
			}
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
			if req.Acks == -1 {
				pending = append(pending, pendingAck{p: p, res: res, out: sp})
			}
		}
	}
	for id, li := range leaders {
		br := kmsg.NewProduceResponseBroker()
		l := li.broker.Listeners[0]
		br.NodeID, br.Host, br.Port = id, l.Host, l.Port
		if li.broker.Rack != "" {
			br.Rack = &li.broker.Rack
		}
		resp.Brokers = append(resp.Brokers, br)
	}

	if req.Acks == 0 {
		if failed {
			return nil, fmt.Errorf("protocol: closing the connection after an acks=0 produce failed, so that the client notices")
		}
		return nil, nil
	}
	// acks=-1: answer now if every partition is acknowledged, else later.
	waiting := pending[:0]
	for _, pa := range pending {
		if done, err := pa.p.Acked(pa.res); !done {
			waiting = append(waiting, pa)
		} else if err != nil {
			setProduceError(req.Version, pa.out, err)
		}
	}
	if len(waiting) == 0 {
		return resp, nil
	}
	timeout := time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond
	return r.Defer(func(ctx context.Context) (kmsg.Response, error) {
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		for _, pa := range waiting {
			if err := pa.p.WaitAcked(wctx, pa.res); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err() // the connection is gone
				}
				setProduceError(req.Version, pa.out, err)
			}
		}
		return resp, nil
	})
}

// setProduceError turns a partition's answer into an error.
func setProduceError(version int16, sp *kmsg.ProduceResponseTopicPartition, err error) {
	sp.ErrorCode = partitionError(err).Code
	if version >= 8 {
		sp.ErrorMessage = partitionErrorMessage(err)
	}
}

// checkProduceRecords applies the request-level checks Kafka makes on a v3+
// partition's records before the log sees them: present, magic 2, and no
// zstd before v7.
func checkProduceRecords(version int16, records []byte) error {
	if len(records) == 0 {
		return fmt.Errorf("%w: produce requests of version %d must carry one record batch per partition", commitlog.ErrInvalidRecord, version)
	}
	if len(records) > 16 && records[16] != 2 {
		return fmt.Errorf("%w: produce requests of version %d carry only record batches of magic 2, got magic %d", commitlog.ErrInvalidRecord, version, records[16])
	}
	if version < 7 && len(records) >= commitlog.HeaderSize &&
		commitlog.Compression(binary.BigEndian.Uint16(records[21:])&0x07) == commitlog.CompressionZstd {
		return errZstdBeforeV7
	}
	return nil
}
