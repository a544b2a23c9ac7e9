package protocol

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/core/wire"
)

// Fetch (key 1): versions 4-18.
//
// Behaviour:
//   - Each partition is read from its leader's log on this broker, whole
//     batches verbatim as stored, sent from the segment files with
//     sendfile (the response is a wire.SplicedResponse whose record sets
//     are file slices), from the fetch offset up to the high
//     watermark (followers, replica id >= 0: up to the log end offset, and
//     their fetch offset is their log end offset for the high watermark).
//     read_committed reads the same: without transactions the last stable
//     offset is the high watermark, and the aborted transaction list is
//     empty.
//   - Sizes as Kafka: the first partition with data returns at least one
//     whole batch even above the limits; after it each partition gets at
//     most partition_max_bytes and what is left of max_bytes (itself
//     capped by the broker's fetch.max.bytes).
//   - Long polling: with fewer than min_bytes available and no partition
//     in error, the answer waits up to max_wait_ms and is sent as soon as
//     min_bytes are there; any append, high watermark move, leadership
//     change or deletion of a requested partition wakes it
//     (partition.Waiter). The wait is deferred (Request.Defer), so the
//     connection's next requests are served meanwhile.
//   - Errors answer at once, per partition: NOT_LEADER_OR_FOLLOWER with the
//     current leader (v12+ CurrentLeader, v16+ its endpoint in
//     NodeEndpoints), FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH (v9+
//     current_leader_epoch), OFFSET_OUT_OF_RANGE (high watermark and log
//     start -1), UNKNOWN_TOPIC_OR_PARTITION, v13+ UNKNOWN_TOPIC_ID. A
//     last_fetched_epoch (v12+) that diverges from the log answers
//     DivergingEpoch instead of data.
//   - Fetch sessions (KIP-227, v7+) are not kept: a full request
//     (session epoch 0 or -1) is answered in full with session id 0, which
//     tells the client no session was created, so it keeps sending full
//     requests (Kafka does the same when its session cache is full;
//     franz-go, the Java client and librdkafka handle it). An incremental
//     request (epoch > 0) gets FETCH_SESSION_ID_NOT_FOUND, after which
//     clients start over with a full one. Forgotten topics are ignored.
//
// Version notes: v4 isolation level and LSO, v5 log start offset, v7
// sessions, v9 current leader epoch, v11 rack (ignored; preferred read
// replica is always -1), v12 flexible, last fetched epoch and the
// DivergingEpoch/CurrentLeader tags, v13 topic ids, v15 ReplicaState
// replaces ReplicaID, v16 NodeEndpoints, v17 replica directory id
// (ignored), v18 high watermark tag (ignored). Versions 0-3 are not served,
// as in Kafka 4.0 (KIP-896); kafka-python 2.0 sends v4.

func init() {
	Register(API{Key: 1, MinVersion: 4, MaxVersion: 18, Handle: handleFetch})
}

// noRecords is the record set of a partition answered without data.
var noRecords = []byte{}

// fetchItem is one requested partition and its place in the response.
type fetchItem struct {
	rp        *kmsg.FetchRequestTopicPartition
	out       *kmsg.FetchResponseTopicPartition
	topic     string
	unknownID bool
}

// fetchOp is one Fetch request being answered; gather may run several
// times (long polling), each time rebuilding every partition's answer.
type fetchOp struct {
	b         *Broker
	req       *kmsg.FetchRequest
	resp      *kmsg.FetchResponse
	items     []fetchItem
	replicaID int32
	maxBytes  int
	leaders   map[int32]leaderInfo
	// chunks are the record sets of the last gather, file slices whose
	// placeholders are in resp; released by the next gather, or by the
	// writer of the response (fetchResponse.Release).
	chunks []wire.Chunk
}

// fetchResponse is a Fetch response whose record sets are segment file
// ranges, sent by the connection's writer with sendfile
// (wire.SplicedResponse).
type fetchResponse struct {
	*kmsg.FetchResponse
	chunks []wire.Chunk
}

var _ wire.SplicedResponse = (*fetchResponse)(nil)

// Chunks implements wire.SplicedResponse.
func (r *fetchResponse) Chunks() []wire.Chunk { return r.chunks }

// Release implements wire.SplicedResponse: it closes the file slices.
func (r *fetchResponse) Release() {
	releaseChunks(r.chunks)
	r.chunks = nil
}

func releaseChunks(chunks []wire.Chunk) {
	for _, c := range chunks {
		_ = c.Close()
	}
}

// response is the answer to send: resp, spliced if it holds file slices.
func (op *fetchOp) response() kmsg.Response {
	op.finish()
	if len(op.chunks) == 0 {
		return op.resp
	}
	r := &fetchResponse{FetchResponse: op.resp, chunks: op.chunks}
	op.chunks = nil
	return r
}

func handleFetch(_ context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.FetchRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: Fetch handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.Version >= 7 && req.SessionEpoch != 0 && req.SessionEpoch != -1 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	op := newFetchOp(b, req, resp)
	n, immediate := op.gather()
	if immediate || n >= int(req.MinBytes) || req.MaxWaitMillis <= 0 {
		return op.response(), nil
	}
	// The wait gathers again; nothing of this gather is kept.
	releaseChunks(op.chunks)
	op.chunks = nil
	return r.Defer(op.wait)
}

// newFetchOp lays out the response in request order.
func newFetchOp(b *Broker, req *kmsg.FetchRequest, resp *kmsg.FetchResponse) *fetchOp {
	op := &fetchOp{b: b, req: req, resp: resp, replicaID: req.ReplicaID, maxBytes: int(req.MaxBytes)}
	if req.Version >= 15 {
		op.replicaID = req.ReplicaState.ID
	}
	limit := partition.DefaultMaxFetchBytes
	if b.Partitions != nil {
		limit = b.Partitions.Config().MaxFetchBytes
	}
	op.maxBytes = min(max(op.maxBytes, 0), limit)
	img := brokerImage(b)
	n := 0
	for i := range req.Topics {
		n += len(req.Topics[i].Partitions)
	}
	op.items = make([]fetchItem, 0, n)
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		st := &resp.Topics[ti]
		*st = kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		name, unknownID := rt.Topic, false
		if req.Version >= 13 {
			if t, ok := img.TopicByID(rt.TopicID); ok {
				name = t.Name
			} else {
				unknownID = true
			}
		}
		for pi := range rt.Partitions {
			op.items = append(op.items, fetchItem{rp: &rt.Partitions[pi], out: &st.Partitions[pi], topic: name, unknownID: unknownID})
		}
	}
	return op
}

// gather reads every partition into the response, returning the bytes of
// records read and whether the answer must go now (an error, a diverging
// epoch).
func (op *fetchOp) gather() (total int, immediate bool) {
	img := brokerImage(op.b)
	clear(op.leaders)
	releaseChunks(op.chunks)
	op.chunks = op.chunks[:0]
	v := op.req.Version
	limit, minOne := op.maxBytes, true
	for i := range op.items {
		it := &op.items[i]
		out := it.out
		*out = kmsg.NewFetchResponseTopicPartition()
		out.Partition = it.rp.Partition
		out.HighWatermark = -1
		// Empty, not null: kafka-python 2.0 cannot parse a null record
		// set, and Kafka never sends one.
		out.RecordBatches = noRecords
		if op.req.IsolationLevel == 1 {
			out.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
		}
		if it.unknownID {
			out.ErrorCode = kerr.UnknownTopicID.Code
			immediate = true
			continue
		}
		p, ke := lookupPartition(op.b, img, it.topic, it.rp.Partition)
		if ke != nil {
			op.fail(img, it, ke)
			immediate = true
			continue
		}
		params := partition.FetchParams{
			Offset:             it.rp.FetchOffset,
			MaxBytes:           min(max(int(it.rp.PartitionMaxBytes), 0), limit),
			MinOneMessage:      minOne,
			CurrentLeaderEpoch: partition.NoEpoch,
			LastFetchedEpoch:   partition.NoEpoch,
			ReplicaID:          op.replicaID,
			ReadCommitted:      op.req.IsolationLevel == 1,
		}
		if v >= 9 {
			params.CurrentLeaderEpoch = it.rp.CurrentLeaderEpoch
		}
		if v >= 12 {
			params.LastFetchedEpoch = it.rp.LastFetchedEpoch
		}
		res, err := p.FetchSlice(params)
		if err != nil {
			_ = res.Slice.Close()
			op.fail(img, it, partitionError(err))
			immediate = true
			continue
		}
		out.HighWatermark, out.LastStableOffset, out.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
		if res.Diverging {
			out.DivergingEpoch.Epoch, out.DivergingEpoch.EndOffset = res.DivergingEpoch, res.DivergingEndOffset
			immediate = true
		}
		if n := int(res.Slice.Len()); n > 0 {
			out.RecordBatches = wire.Placeholder(len(op.chunks))
			op.chunks = append(op.chunks, &res.Slice)
			minOne = false
			limit = max(limit-n, 0)
			total += n
		} else {
			_ = res.Slice.Close()
		}
	}
	return total, immediate
}

// fail sets a partition's error; NOT_LEADER_OR_FOLLOWER names the leader.
func (op *fetchOp) fail(img *cluster.Image, it *fetchItem, ke *kerr.Error) {
	it.out.ErrorCode = ke.Code
	it.out.HighWatermark, it.out.LastStableOffset, it.out.LogStartOffset = -1, -1, -1
	if ke != kerr.NotLeaderForPartition || op.req.Version < 12 {
		return
	}
	li := currentLeader(img, it.topic, it.rp.Partition)
	it.out.CurrentLeader.LeaderID, it.out.CurrentLeader.LeaderEpoch = li.id, li.epoch
	if li.id >= 0 && op.req.Version >= 16 {
		if op.leaders == nil {
			op.leaders = map[int32]leaderInfo{}
		}
		op.leaders[li.id] = li
	}
}

// finish adds the endpoints of the leaders named (v16+).
func (op *fetchOp) finish() {
	for id, li := range op.leaders {
		br := kmsg.NewFetchResponseBroker()
		l := li.broker.Listeners[0]
		br.NodeID, br.Host, br.Port = id, l.Host, l.Port
		if li.broker.Rack != "" {
			br.Rack = &li.broker.Rack
		}
		op.resp.Brokers = append(op.resp.Brokers, br)
	}
}

// wait is the deferred long poll: gather until min_bytes are there, an
// error shows, or max_wait_ms passed.
func (op *fetchOp) wait(ctx context.Context) (kmsg.Response, error) {
	w := partition.NewWaiter()
	defer w.Stop()
	img := brokerImage(op.b)
	for i := range op.items {
		if p, ke := lookupPartition(op.b, img, op.items[i].topic, op.items[i].rp.Partition); ke == nil {
			w.Watch(p)
		}
	}
	timer := time.NewTimer(time.Duration(op.req.MaxWaitMillis) * time.Millisecond)
	defer timer.Stop()
	minBytes := int(op.req.MinBytes)
	for {
		n, immediate := op.gather()
		if immediate || n >= minBytes {
			break
		}
		select {
		case <-w.C():
			continue
		case <-timer.C:
			op.gather()
		case <-ctx.Done():
			releaseChunks(op.chunks)
			return nil, ctx.Err()
		}
		break
	}
	return op.response(), nil
}
