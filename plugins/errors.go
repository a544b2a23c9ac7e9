package plugins

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// How errors cross the plugin boundary
//
// Server side (toStatus), first match wins:
//
//	error                        gRPC code            ErrorInfo.Reason
//	metadata.ErrDuplicateBroker  FailedPrecondition   DUPLICATE_BROKER
//	metadata.ErrFenced           FailedPrecondition   FENCED
//	metadata.ErrStaleEpoch       Aborted              STALE_EPOCH
//	metadata.ErrTopicExists      AlreadyExists        TOPIC_EXISTS
//	metadata.ErrUnknownTopic     NotFound             UNKNOWN_TOPIC
//	metadata.ErrCompacted        OutOfRange           COMPACTED
//	metadata.ErrUnavailable      Unavailable          UNAVAILABLE
//	metadata.ErrInvalid          InvalidArgument      INVALID
//	metadata.ErrNotConfigured    FailedPrecondition   NOT_CONFIGURED
//	metadata.ErrUnsupported      Unimplemented        UNSUPPORTED
//	context.Canceled             Canceled             (none)
//	context.DeadlineExceeded     DeadlineExceeded     (none)
//	a gRPC status error          its own status       (as it came)
//	anything else                Unknown              (none)
//
// The status message is err.Error(), so the text survives. ErrorInfo.Domain
// is errorDomain.
//
// Client side (fromStatus): an ErrorInfo reason of errorDomain becomes an
// error that matches the sentinel with errors.Is and has the server's text.
// Without one: Unavailable (the transport: the plugin process is gone, the
// connection refused) and Canceled while the caller's ctx is alive (the
// connection was closed under the call, or the server cancelled it while
// shutting down) wrap metadata.ErrUnavailable, Unimplemented (a server
// without the RPC) wraps metadata.ErrUnsupported, DeadlineExceeded wraps
// both context.DeadlineExceeded and metadata.ErrUnavailable, and anything else keeps its message and matches
// no sentinel. When the caller's ctx has ended, the error also matches
// ctx.Err() (and its cause).

// errorDomain is the google.rpc.ErrorInfo domain of chronik sentinels.
const errorDomain = "chronik.metadata.v1"

// ErrClientClosed is returned by every call on a closed Client, and is the
// Err of the last batch of a Watch stream ended by Client.Close. It wraps
// metadata.ErrUnavailable.
var ErrClientClosed = fmt.Errorf("plugins: client closed: %w", metadata.ErrUnavailable)

type sentinelCode struct {
	err    error
	code   codes.Code
	reason string
}

// sentinelCodes covers every error of metadata.Sentinels (checked by a test).
var sentinelCodes = []sentinelCode{
	{metadata.ErrDuplicateBroker, codes.FailedPrecondition, "DUPLICATE_BROKER"},
	{metadata.ErrFenced, codes.FailedPrecondition, "FENCED"},
	{metadata.ErrStaleEpoch, codes.Aborted, "STALE_EPOCH"},
	{metadata.ErrTopicExists, codes.AlreadyExists, "TOPIC_EXISTS"},
	{metadata.ErrUnknownTopic, codes.NotFound, "UNKNOWN_TOPIC"},
	{metadata.ErrCompacted, codes.OutOfRange, "COMPACTED"},
	{metadata.ErrUnavailable, codes.Unavailable, "UNAVAILABLE"},
	{metadata.ErrInvalid, codes.InvalidArgument, "INVALID"},
	{metadata.ErrNotConfigured, codes.FailedPrecondition, "NOT_CONFIGURED"},
	{metadata.ErrUnsupported, codes.Unimplemented, "UNSUPPORTED"},
}

// toStatus turns an error of a backend into the error a gRPC handler
// returns. nil stays nil.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	for _, sc := range sentinelCodes {
		if errors.Is(err, sc.err) {
			st := status.New(sc.code, err.Error())
			if d, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: sc.reason, Domain: errorDomain}); derr == nil {
				st = d
			}
			return st.Err()
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	return status.Error(codes.Unknown, err.Error())
}

// remoteError is an error that came back over gRPC. Error returns the
// server's text; errors.Is matches the wrapped sentinel (if any) and the
// caller's context error (if its ctx had ended).
type remoteError struct {
	msg  string
	st   *status.Status
	errs []error // what it matches with errors.Is
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Unwrap() []error { return e.errs }

// GRPCStatus keeps the original status visible to status.FromError.
func (e *remoteError) GRPCStatus() *status.Status { return e.st }

// fromStatus turns the error of a gRPC call made with ctx into the error the
// Client returns. nil stays nil.
func fromStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		// Not from gRPC (e.g. a decoding error of ours): keep it.
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			return fmt.Errorf("%w (%w)", err, cerr)
		}
		return err
	}
	re := &remoteError{msg: st.Message(), st: st}
	if s := sentinelOf(st); s != nil {
		re.errs = append(re.errs, s)
	} else {
		switch st.Code() {
		case codes.Unavailable:
			re.msg = "plugins: backend unreachable: " + st.Message()
			re.errs = append(re.errs, metadata.ErrUnavailable)
		case codes.Unimplemented:
			re.errs = append(re.errs, metadata.ErrUnsupported)
		case codes.Canceled:
			if ctx.Err() == nil {
				// Not the caller's doing: the call was cut off.
				re.errs = append(re.errs, metadata.ErrUnavailable)
			}
		case codes.DeadlineExceeded:
			// The call found no answer in time: the backend is unavailable
			// to this caller (metadata.Backend's rule for deadlines).
			re.errs = append(re.errs, context.DeadlineExceeded, metadata.ErrUnavailable)
		}
	}
	cerr := ctx.Err()
	if dl, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(dl) {
		// The deadline passed but ctx's timer has not fired yet.
		cerr = context.DeadlineExceeded
	}
	if cerr != nil {
		re.errs = append(re.errs, cerr)
		if cause := context.Cause(ctx); cause != nil && cause != cerr {
			re.errs = append(re.errs, cause)
		}
	}
	return re
}

// sentinelOf returns the sentinel named by st's ErrorInfo, or nil.
func sentinelOf(st *status.Status) error {
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != errorDomain {
			continue
		}
		for _, sc := range sentinelCodes {
			if sc.reason == info.GetReason() {
				return sc.err
			}
		}
	}
	return nil
}
