package raftmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Forwarding service
//
// Followers send what only the leader can do to the leader, over gRPC on
// the Raft port (see mux.go). Every message is a google.protobuf.BytesValue
// holding:
//
//	method      request                      response
//	Apply       an encoded command           JSON result
//	Heartbeat   JSON heartbeatRequest        JSON heartbeatResponse
//	ReadIndex   empty                        JSON readIndexResponse
//	Membership  JSON membershipRequest       JSON errorResponse
//
// Domain errors (the metadata sentinels) travel inside the response; a gRPC
// error means "not done here, try again" (this node is not the leader or not
// ready yet, or the transport failed) and the caller retries within its
// deadline, against whichever node is then the leader. Apply is safe to
// retry: the command carries its request id.

const forwardService = "chronik.raftmeta.v1.Forward"

type heartbeatRequest struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

type heartbeatResponse struct {
	Code           errCode       `json:"code,omitempty"`
	Msg            string        `json:"msg,omitempty"`
	SessionTimeout time.Duration `json:"timeout"`
}

type readIndexResponse struct {
	Index uint64 `json:"index"`
}

type membershipRequest struct {
	Remove bool            `json:"remove,omitempty"`
	Member metadata.Member `json:"member"`
}

type errorResponse struct {
	Code errCode `json:"code,omitempty"`
	Msg  string  `json:"msg,omitempty"`
}

// errNotLeader: this node cannot serve the call as leader now.
var errNotLeader = errors.New("raftmeta: not the leader")

// errNotReady: this node is the leader but has not yet applied every entry
// of earlier terms.
var errNotReady = errors.New("raftmeta: leader not ready")

// errNoLeader: no leader is known.
var errNoLeader = errors.New("raftmeta: no leader")

// forwardServer serves the forwarding service of a Node.
type forwardServer struct{ n *Node }

// registerForward registers the forwarding service of n on s.
func registerForward(s *grpc.Server, n *Node) {
	fs := &forwardServer{n: n}
	unary := func(name string, h func(ctx context.Context, in []byte) ([]byte, error)) grpc.MethodDesc {
		return grpc.MethodDesc{
			MethodName: name,
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.BytesValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				out, err := h(ctx, in.GetValue())
				if err != nil {
					return nil, toForwardStatus(err)
				}
				return wrapperspb.Bytes(out), nil
			},
		}
	}
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: forwardService,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			unary("Apply", fs.apply),
			unary("Heartbeat", fs.heartbeat),
			unary("ReadIndex", fs.readIndex),
			unary("Membership", fs.membership),
		},
		Metadata: "raftmeta/forward.go",
	}, fs)
}

// toForwardStatus turns the error of a leader-side call into the status the
// caller retries on.
func toForwardStatus(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, errClosed):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, errNotLeader), errors.Is(err, errNotReady):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func (fs *forwardServer) apply(ctx context.Context, in []byte) ([]byte, error) {
	if _, err := decodeCommand(in); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	res, err := fs.n.applyLocal(ctx, in)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

func (fs *forwardServer) heartbeat(ctx context.Context, in []byte) ([]byte, error) {
	var req heartbeatRequest
	if err := json.Unmarshal(in, &req); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	resp := heartbeatResponse{SessionTimeout: fs.n.o.sessionTimeout}
	if err := fs.n.heartbeatLocal(ctx, req.ID, req.Epoch); err != nil {
		if errors.Is(err, metadata.ErrFenced) || errors.Is(err, metadata.ErrStaleEpoch) {
			resp.Code, resp.Msg = codeOf(err), err.Error()
		} else {
			return nil, err
		}
	}
	return json.Marshal(resp)
}

func (fs *forwardServer) readIndex(ctx context.Context, _ []byte) ([]byte, error) {
	idx, err := fs.n.readIndexLocal(ctx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(readIndexResponse{Index: idx})
}

func (fs *forwardServer) membership(ctx context.Context, in []byte) ([]byte, error) {
	var req membershipRequest
	if err := json.Unmarshal(in, &req); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var resp errorResponse
	if err := fs.n.membershipLocal(ctx, req.Remove, req.Member); err != nil {
		if errors.Is(err, metadata.ErrInvalid) {
			resp.Code, resp.Msg = codeInvalid, err.Error()
		} else {
			return nil, err
		}
	}
	return json.Marshal(resp)
}

// peerConn returns the (cached) client connection to the node at addr.
func (n *Node) peerConn(addr string) (*grpc.ClientConn, error) {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	if n.conns == nil {
		return nil, errClosed
	}
	if cc, ok := n.conns[addr]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return dialForward(ctx, a) }),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("raftmeta: connecting to %s: %w", addr, err)
	}
	n.conns[addr] = cc
	return cc, nil
}

// closePeerConns closes every cached connection; later peerConn calls fail.
func (n *Node) closePeerConns() {
	n.connMu.Lock()
	conns := n.conns
	n.conns = nil
	n.connMu.Unlock()
	for _, cc := range conns {
		_ = cc.Close()
	}
}

// call invokes method on the node at addr with request in and returns the
// response bytes. Any error means "retry". One attempt lasts at most
// attemptTimeout: a leader that died without closing its connections (a
// host gone) must not use up the caller's whole deadline while a new leader
// takes over; the retry goes to whichever node leads then.
func (n *Node) call(ctx context.Context, addr, method string, in []byte) ([]byte, error) {
	cc, err := n.peerConn(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.attemptTimeout())
	defer cancel()
	out := new(wrapperspb.BytesValue)
	if err := cc.Invoke(ctx, "/"+forwardService+"/"+method, wrapperspb.Bytes(in), out); err != nil {
		return nil, fmt.Errorf("raftmeta: %s at leader %s: %w", method, addr, err)
	}
	return out.GetValue(), nil
}

// attemptTimeout bounds one forwarded call: long enough for a commit on a
// slow quorum, short against the time a new leader needs.
func (n *Node) attemptTimeout() time.Duration {
	return max(4*n.o.electionTimeout, 2*time.Second)
}

// forwardApply sends an encoded command to the leader at addr.
func (n *Node) forwardApply(ctx context.Context, addr string, data []byte) (*result, error) {
	out, err := n.call(ctx, addr, "Apply", data)
	if err != nil {
		return nil, err
	}
	var res result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("raftmeta: decoding the leader's result: %w", err)
	}
	return &res, nil
}

// forwardHeartbeat sends a heartbeat to the leader at addr.
func (n *Node) forwardHeartbeat(ctx context.Context, addr string, id int32, epoch int64) (heartbeatResponse, error) {
	in, _ := json.Marshal(heartbeatRequest{ID: id, Epoch: epoch})
	out, err := n.call(ctx, addr, "Heartbeat", in)
	if err != nil {
		return heartbeatResponse{}, err
	}
	var resp heartbeatResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return resp, fmt.Errorf("raftmeta: decoding the leader's heartbeat answer: %w", err)
	}
	return resp, nil
}

// forwardReadIndex asks the leader at addr for its read index.
func (n *Node) forwardReadIndex(ctx context.Context, addr string) (uint64, error) {
	out, err := n.call(ctx, addr, "ReadIndex", nil)
	if err != nil {
		return 0, err
	}
	var resp readIndexResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return 0, fmt.Errorf("raftmeta: decoding the leader's read index: %w", err)
	}
	return resp.Index, nil
}

// forwardMembership sends a membership change to the leader at addr.
func (n *Node) forwardMembership(ctx context.Context, addr string, req membershipRequest) (errorResponse, error) {
	in, _ := json.Marshal(req)
	out, err := n.call(ctx, addr, "Membership", in)
	if err != nil {
		return errorResponse{}, err
	}
	var resp errorResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return resp, fmt.Errorf("raftmeta: decoding the leader's membership answer: %w", err)
	}
	return resp, nil
}
