package plugins

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestSentinelTableCoversContract(t *testing.T) {
	if len(sentinelCodes) != len(metadata.Sentinels) {
		t.Fatalf("sentinelCodes has %d entries, metadata.Sentinels %d", len(sentinelCodes), len(metadata.Sentinels))
	}
	reasons := map[string]bool{}
	for i, s := range metadata.Sentinels {
		if sentinelCodes[i].err != s {
			t.Errorf("sentinelCodes[%d] is %v, want %v", i, sentinelCodes[i].err, s)
		}
		if reasons[sentinelCodes[i].reason] {
			t.Errorf("reason %s used twice", sentinelCodes[i].reason)
		}
		reasons[sentinelCodes[i].reason] = true
	}
}

// TestSentinelsCrossTheBoundary: every sentinel, returned wrapped by the
// backend, reaches the client as the same sentinel with the server's text,
// a fitting code and an ErrorInfo naming it; it matches no other sentinel.
func TestSentinelsCrossTheBoundary(t *testing.T) {
	fb := newFakeBackend()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	wantCode := map[error]codes.Code{
		metadata.ErrDuplicateBroker: codes.FailedPrecondition,
		metadata.ErrFenced:          codes.FailedPrecondition,
		metadata.ErrStaleEpoch:      codes.Aborted,
		metadata.ErrTopicExists:     codes.AlreadyExists,
		metadata.ErrUnknownTopic:    codes.NotFound,
		metadata.ErrCompacted:       codes.OutOfRange,
		metadata.ErrUnavailable:     codes.Unavailable,
		metadata.ErrInvalid:         codes.InvalidArgument,
		metadata.ErrNotConfigured:   codes.FailedPrecondition,
		metadata.ErrUnsupported:     codes.Unimplemented,
	}
	for i, sentinel := range metadata.Sentinels {
		t.Run(sentinelCodes[i].reason, func(t *testing.T) {
			backendErr := fmt.Errorf("fake: doing thing %d: %w", i, sentinel)
			fb.setHook(func(context.Context, string) error { return backendErr })
			t.Cleanup(func() { fb.setHook(nil) })

			calls := map[string]error{}
			_, calls["Info"] = c.Info(ctx)
			_, calls["RegisterBroker"] = c.RegisterBroker(ctx, metadata.BrokerRegistration{ID: 1, IncarnationID: "x"})
			_, calls["Heartbeat"] = c.Heartbeat(ctx, 1, 1)
			calls["UnregisterBroker"] = c.UnregisterBroker(ctx, 1, 1)
			_, calls["CreateTopic"] = c.CreateTopic(ctx, metadata.TopicSpec{Name: "t"})
			calls["DeleteTopic"] = c.DeleteTopic(ctx, "t")
			_, calls["AlterPartition"] = c.AlterPartition(ctx, metadata.PartitionChange{Topic: "t"})
			_, calls["AllocateProducerIDs"] = c.AllocateProducerIDs(ctx, 1)
			_, calls["Snapshot"] = c.Snapshot(ctx)
			_, calls["Watch"] = c.Watch(ctx, 0)
			calls["Compact"] = c.Compact(ctx, 1)
			calls["AddMember"] = c.AddMember(ctx, metadata.Member{ID: "x"})
			calls["RemoveMember"] = c.RemoveMember(ctx, "x")
			for method, err := range calls {
				if !errors.Is(err, sentinel) {
					t.Errorf("%s: %v does not match %v", method, err, sentinel)
					continue
				}
				if err.Error() != backendErr.Error() {
					t.Errorf("%s: message %q, want the server's %q", method, err.Error(), backendErr.Error())
				}
				for _, other := range metadata.Sentinels {
					if other != sentinel && errors.Is(err, other) {
						t.Errorf("%s: %v also matches %v", method, err, other)
					}
				}
				st, ok := status.FromError(err)
				if !ok || st.Code() != wantCode[sentinel] {
					t.Errorf("%s: status %v, want code %v", method, st, wantCode[sentinel])
				}
			}
			// The status on the wire carries the ErrorInfo.
			st := status.Convert(toStatus(backendErr))
			var info *errdetails.ErrorInfo
			for _, d := range st.Details() {
				if i, ok := d.(*errdetails.ErrorInfo); ok {
					info = i
				}
			}
			if info == nil || info.Reason != sentinelCodes[i].reason || info.Domain != errorDomain {
				t.Errorf("ErrorInfo = %v, want reason %s domain %s", info, sentinelCodes[i].reason, errorDomain)
			}
		})
	}
}

func TestUnknownErrorKeepsMessage(t *testing.T) {
	fb := newFakeBackend()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	fb.setHook(func(context.Context, string) error { return errors.New("disk on fire") })
	_, err := c.Snapshot(ctx)
	if err == nil || err.Error() != "disk on fire" {
		t.Fatalf("Snapshot: %v, want the message %q", err, "disk on fire")
	}
	for _, s := range metadata.Sentinels {
		if errors.Is(err, s) {
			t.Errorf("%v matches %v", err, s)
		}
	}
	if code := status.Code(err); code != codes.Unknown {
		t.Errorf("code %v, want Unknown", code)
	}
	// A backend that returns a gRPC status of its own keeps it.
	fb.setHook(func(context.Context, string) error { return status.Error(codes.ResourceExhausted, "too many") })
	_, err = c.Snapshot(ctx)
	if status.Code(err) != codes.ResourceExhausted || err.Error() != "too many" {
		t.Fatalf("Snapshot: %v (code %v), want ResourceExhausted \"too many\"", err, status.Code(err))
	}
}

// TestServerContextErrors: a backend returning a context error while the
// caller's ctx is alive: its own timeout arrives as DeadlineExceeded that
// also matches ErrUnavailable (the contract's rule for calls that ran out of
// time); a cancellation that is not the caller's (the server shutting down) as
// ErrUnavailable, so that the caller retries instead of stopping.
func TestServerContextErrors(t *testing.T) {
	fb := newFakeBackend()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	for _, tc := range []struct {
		err     error
		code    codes.Code
		is, not error
	}{
		{context.Canceled, codes.Canceled, metadata.ErrUnavailable, context.Canceled},
		{context.DeadlineExceeded, codes.DeadlineExceeded, context.DeadlineExceeded, nil},
	} {
		fb.setHook(func(context.Context, string) error { return fmt.Errorf("fake: waiting for quorum: %w", tc.err) })
		_, err := c.Snapshot(ctx)
		if tc.code == codes.DeadlineExceeded && !errors.Is(err, metadata.ErrUnavailable) {
			t.Errorf("backend error %v: got %v, want it to match ErrUnavailable too", tc.err, err)
		}
		if !errors.Is(err, tc.is) || (tc.not != nil && errors.Is(err, tc.not)) || status.Code(err) != tc.code {
			t.Errorf("backend error %v: got %v (code %v), want a match of %v and not of %v", tc.err, err, status.Code(err), tc.is, tc.not)
		}
		if want := "fake: waiting for quorum: " + tc.err.Error(); err.Error() != want {
			t.Errorf("message %q, want %q", err.Error(), want)
		}
	}
}

// TestTransportDownIsUnavailable: no server behind the address (a plugin
// process that died) gives ErrUnavailable, on every kind of call.
func TestTransportDownIsUnavailable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there any more
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	c := NewClient(cc)
	t.Cleanup(func() { c.Close() })
	ctx := testCtx(t)
	if _, err := c.Snapshot(ctx); !errors.Is(err, metadata.ErrUnavailable) {
		t.Errorf("Snapshot: %v, want ErrUnavailable", err)
	}
	if err := c.Configure(ctx, metadata.Config{}); !errors.Is(err, metadata.ErrUnavailable) {
		t.Errorf("Configure: %v, want ErrUnavailable", err)
	}
	if _, err := c.Watch(ctx, 0); !errors.Is(err, metadata.ErrUnavailable) {
		t.Errorf("Watch: %v, want ErrUnavailable", err)
	}
}

func TestFromStatusMapping(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		in   error
		is   []error
		not  []error
	}{
		{"unimplemented without info", status.Error(codes.Unimplemented, "unknown method Compact"), []error{metadata.ErrUnsupported}, nil},
		{"unavailable without info", status.Error(codes.Unavailable, "connection refused"), []error{metadata.ErrUnavailable}, nil},
		{"canceled, caller ctx alive", status.Error(codes.Canceled, "grpc: the client connection is closing"), []error{metadata.ErrUnavailable}, []error{context.Canceled}},
		{"foreign ErrorInfo domain", statusWithInfo(codes.NotFound, "x", "other.domain", "UNKNOWN_TOPIC"), nil, []error{metadata.ErrUnknownTopic}},
		{"unknown reason", statusWithInfo(codes.NotFound, "x", errorDomain, "SOMETHING_NEW"), nil, metadata.Sentinels},
		{"internal", status.Error(codes.Internal, "boom"), nil, metadata.Sentinels},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fromStatus(ctx, tc.in)
			for _, want := range tc.is {
				if !errors.Is(err, want) {
					t.Errorf("%v does not match %v", err, want)
				}
			}
			for _, not := range tc.not {
				if errors.Is(err, not) {
					t.Errorf("%v matches %v", err, not)
				}
			}
		})
	}
	if fromStatus(ctx, nil) != nil || toStatus(nil) != nil {
		t.Fatal("nil error did not stay nil")
	}
}

func statusWithInfo(code codes.Code, msg, domain, reason string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Domain: domain, Reason: reason})
	if err != nil {
		panic(err)
	}
	return st.Err()
}
