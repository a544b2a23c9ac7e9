package etcdmeta

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// renewer renews session leases on demand (Heartbeat) over ONE long-lived
// LeaseKeepAlive stream per backend, instead of clientv3's KeepAliveOnce,
// which opens a stream per call: with etcd auth enabled, every new stream
// authenticates again (clientv3 fetches a token per stream, a bcrypt check
// on the server, hundreds of milliseconds under load), and a heartbeat must
// be cheap. clientv3's own KeepAlive is no substitute: it renews by itself,
// while a session must end when its broker stops heartbeating.
//
// etcd answers the requests of one stream in order, one response per
// request (TTL 0: no such lease), so the waiters of each lease id form a
// FIFO. A stream that fails fails all its waiters (they retry on a new
// stream) and is replaced on the next renewal.
type renewer struct {
	b *Backend

	mu      sync.Mutex
	cur     *kaStream
	opening chan struct{} // closed when the opening in progress ends
	openErr error         // why the last opening failed
}

// kaStream is one LeaseKeepAlive stream and its waiters.
type kaStream struct {
	cancel context.CancelFunc
	stream etcdserverpb.Lease_LeaseKeepAliveClient

	sendMu sync.Mutex // serializes Send

	mu      sync.Mutex // guards waiters and err
	waiters map[int64][]chan renewResult
	err     error // set once the stream failed
}

type renewResult struct {
	ttl int64
	err error
}

// renew renews lease id once. ok is false if etcd has no such lease (it
// expired or was revoked). Safe for concurrent use.
func (r *renewer) renew(ctx context.Context, cli *clientv3.Client, id clientv3.LeaseID) (ttl int64, ok bool, err error) {
	ks, err := r.stream(ctx, cli)
	if err != nil {
		return 0, false, err
	}
	ch := make(chan renewResult, 1)
	ks.mu.Lock()
	if ks.err != nil {
		err := ks.err
		ks.mu.Unlock()
		return 0, false, err
	}
	ks.waiters[int64(id)] = append(ks.waiters[int64(id)], ch)
	ks.mu.Unlock()
	ks.sendMu.Lock()
	err = ks.stream.Send(&etcdserverpb.LeaseKeepAliveRequest{ID: int64(id)})
	ks.sendMu.Unlock()
	if err != nil {
		r.fail(ks, fmt.Errorf("lease keepalive stream: %w", err))
	}
	// An abandoned waiter stays queued: the response still comes, in
	// order, into its buffer.
	select {
	case res := <-ch:
		if res.err != nil {
			return 0, false, res.err
		}
		return res.ttl, res.ttl > 0, nil
	case <-ctx.Done():
		return 0, false, ctx.Err()
	}
}

// stream returns the current stream, opening one if there is none.
// Opening (which authenticates, when etcd auth is on) runs on its own
// goroutine, bounded by the dial timeout; callers wait for it at most
// until their ctx ends.
func (r *renewer) stream(ctx context.Context, cli *clientv3.Client) (*kaStream, error) {
	for {
		r.mu.Lock()
		if r.cur != nil {
			ks := r.cur
			r.mu.Unlock()
			return ks, nil
		}
		wait := r.opening
		if wait == nil {
			if r.openErr != nil {
				err := r.openErr
				r.openErr = nil // the next caller tries again
				r.mu.Unlock()
				return nil, err
			}
			wait = make(chan struct{})
			r.opening = wait
			if !r.b.goBackground(func() { r.open(cli, wait) }) {
				r.opening = nil
				r.mu.Unlock()
				return nil, errClosed
			}
		}
		r.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// open opens a stream and publishes it (or the error); done is closed
// after. Owned by the backend.
func (r *renewer) open(cli *clientv3.Client, done chan struct{}) {
	sctx, cancel := context.WithCancel(clientv3.WithRequireLeader(r.b.ctx))
	timer := time.AfterFunc(r.b.cfg.DialTimeout, cancel)
	st, err := etcdserverpb.NewLeaseClient(cli.ActiveConnection()).LeaseKeepAlive(sctx)
	opened := timer.Stop()
	var ks *kaStream
	if err == nil && !opened {
		err = fmt.Errorf("opening a lease keepalive stream took longer than %v", r.b.cfg.DialTimeout)
	}
	if err == nil {
		ks = &kaStream{cancel: cancel, stream: st, waiters: map[int64][]chan renewResult{}}
		if !r.b.goBackground(func() { r.receive(ks) }) {
			err = errClosed
		}
	}
	if err != nil {
		cancel()
		ks = nil
	}
	r.mu.Lock()
	r.cur, r.openErr, r.opening = ks, err, nil
	r.mu.Unlock()
	close(done)
}

// receive dispatches the responses of ks to its waiters until it fails.
// Owned by the backend.
func (r *renewer) receive(ks *kaStream) {
	for {
		resp, err := ks.stream.Recv()
		if err != nil {
			r.fail(ks, fmt.Errorf("lease keepalive stream: %w", err))
			return
		}
		r.b.leader.observe(resp.Header)
		ks.mu.Lock()
		q := ks.waiters[resp.ID]
		if len(q) > 0 {
			q[0] <- renewResult{ttl: resp.TTL}
			q[0] = nil
			q = q[1:]
		}
		if len(q) == 0 {
			delete(ks.waiters, resp.ID)
		} else {
			ks.waiters[resp.ID] = q
		}
		ks.mu.Unlock()
	}
}

// fail ends ks: its waiters get err, and the next renewal opens a new
// stream.
func (r *renewer) fail(ks *kaStream, err error) {
	if errors.Is(err, context.Canceled) && r.b.ctx.Err() != nil {
		err = errClosed
	}
	r.mu.Lock()
	if r.cur == ks {
		r.cur = nil
	}
	r.mu.Unlock()
	ks.cancel()
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.err == nil {
		ks.err = err
	}
	for id, q := range ks.waiters {
		for _, ch := range q {
			ch <- renewResult{err: ks.err}
		}
		delete(ks.waiters, id)
	}
}
