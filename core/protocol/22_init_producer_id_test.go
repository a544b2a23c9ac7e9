package protocol

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/partition"
)

func TestInitProducerIDEveryVersion(t *testing.T) {
	e := newDPEnv(t, func(c *partition.Config) { c.ProducerIDBlockSize = 2 })
	seen := map[int64]bool{}
	for v := int16(0); v <= 5; v++ {
		for range 3 {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.Version, req.TransactionTimeoutMillis = v, 60000
			if v >= 3 {
				req.ProducerID, req.ProducerEpoch = 5, 3 // ignored without a transactional id
			}
			resp := dpRoundTrip[*kmsg.InitProducerIDResponse](t, e.b, req)
			if resp.ErrorCode != 0 || resp.ProducerEpoch != 0 || resp.ProducerID < 0 || seen[resp.ProducerID] {
				t.Fatalf("v%d: %+v (seen %v)", v, resp, seen)
			}
			seen[resp.ProducerID] = true
		}
		txn := kmsg.NewPtrInitProducerIDRequest()
		txn.Version, txn.TransactionalID = v, strp("tx-1")
		resp := dpRoundTrip[*kmsg.InitProducerIDResponse](t, e.b, txn)
		if resp.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code || resp.ProducerID != -1 || resp.ProducerEpoch != -1 {
			t.Fatalf("v%d transactional: %+v", v, resp)
		}
	}
	// The backend is gone: no new block, a retriable error.
	for range 2 {
		dpRoundTrip[*kmsg.InitProducerIDResponse](t, e.b, kmsg.NewPtrInitProducerIDRequest())
	}
	_ = e.store.Close()
	got := false
	for range 3 {
		if resp := dpRoundTrip[*kmsg.InitProducerIDResponse](t, e.b, kmsg.NewPtrInitProducerIDRequest()); resp.ErrorCode == kerr.CoordinatorLoadInProgress.Code {
			got = true
			break
		}
	}
	if !got {
		t.Fatal("no COORDINATOR_LOAD_IN_PROGRESS with the backend closed")
	}
	// A broker without a data path.
	resp := dpRoundTrip[*kmsg.InitProducerIDResponse](t, &Broker{Logger: dpLogger(t)}, kmsg.NewPtrInitProducerIDRequest())
	if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("no partitions: %+v", resp)
	}
}
