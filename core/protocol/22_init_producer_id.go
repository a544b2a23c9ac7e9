package protocol

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId (key 22): versions 0-5.
//
// Behaviour:
//   - Without a transactional id (an idempotent producer), any broker
//     answers: a new producer id with epoch 0, from a block of ids the
//     broker reserved through the metadata backend (unique across the
//     cluster and restarts). As in Kafka, the producer id and epoch a v3+
//     request may carry are not needed for a non-transactional producer
//     and a fresh id is given. If no id can be reserved (the backend does
//     not answer within the request's share of time) the answer is
//     COORDINATOR_LOAD_IN_PROGRESS, retriable, as Kafka answers while its
//     id block is not ready.
//   - With a transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
//     chronik has no transaction coordinator, and Kafka has no code for
//     "transactions unsupported"; this is the answer Kafka gives a client
//     that may not use transactional ids here, and every client treats it
//     as fatal and non-retriable, naming the transactional id — rather
//     than COORDINATOR_NOT_AVAILABLE, which clients would retry forever.
//
// Version notes: v2 flexible, v3 producer id and epoch in the request
// (KIP-360), v4 PRODUCER_FENCED, v5 (KIP-890) nothing that applies without
// transactions.

func init() {
	Register(API{Key: 22, MinVersion: 0, MaxVersion: 5, Handle: handleInitProducerID})
}

// initProducerIDTimeout bounds reserving a new block of producer ids.
const initProducerIDTimeout = 5 * time.Second

func handleInitProducerID(_ context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.InitProducerIDRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: InitProducerId handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		r.Logger.Debug("InitProducerId with a transactional id refused: transactions are not supported",
			"client_id", r.Header.ClientID, "transactional_id", *req.TransactionalID)
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	if b.Partitions == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	// Usually served from the reserved block without waiting; a new
	// block is one backend call, deferred so that the connection's other
	// requests are not held up behind it.
	return r.Defer(func(ctx context.Context) (kmsg.Response, error) {
		ctx, cancel := context.WithTimeout(ctx, initProducerIDTimeout)
		defer cancel()
		id, err := b.Partitions.NewProducerID(ctx)
		if err != nil {
			r.Logger.Debug("InitProducerId failed", "error", err)
			resp.ErrorCode = partitionError(err).Code
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
		return resp, nil
	})
}
