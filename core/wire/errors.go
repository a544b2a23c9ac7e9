package wire

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sentinel errors, matched with errors.Is. Every error this package returns
// about a request's content is a *RequestError or a *FrameSizeError wrapping
// one of them. After any of them the connection's byte stream can no longer
// be trusted and the caller closes it (Kafka does the same), except that an
// unsupported ApiVersions version is answered (see DecodeBody).
var (
	// ErrRequestTooLarge: a frame declared a size above the configured
	// maximum request size, or a negative one. The frame is not read.
	ErrRequestTooLarge = errors.New("wire: request exceeds the maximum request size")
	// ErrMalformed: the header or body does not parse (truncated,
	// inconsistent lengths, bad varints).
	ErrMalformed = errors.New("wire: malformed request")
	// ErrUnknownKey: kmsg knows no request for the api key.
	ErrUnknownKey = errors.New("wire: unknown api key")
	// ErrUnsupportedVersion: the version is negative or above the highest
	// version kmsg can decode for the key.
	ErrUnsupportedVersion = errors.New("wire: unsupported api version")
)

// FrameSizeError reports a frame whose declared size is not acceptable. It
// matches ErrRequestTooLarge.
type FrameSizeError struct {
	// Size is the size the frame declared (the signed int32 on the wire).
	Size int64
	// Max is the maximum request size in force.
	Max int32
}

// Error implements error.
func (e *FrameSizeError) Error() string {
	return fmt.Sprintf("wire: request of %d bytes exceeds the maximum request size of %d bytes", e.Size, e.Max)
}

// Unwrap returns ErrRequestTooLarge.
func (e *FrameSizeError) Unwrap() error { return ErrRequestTooLarge }

// RequestError reports a request that cannot be served, with as much of its
// header as was parsed before the problem (fields not reached are zero). It
// wraps ErrMalformed, ErrUnknownKey or ErrUnsupportedVersion, possibly
// together with kmsg's own decode error.
type RequestError struct {
	Key           int16
	Version       int16
	CorrelationID int32
	Err           error
}

// Error implements error.
func (e *RequestError) Error() string {
	name := kmsg.NameForKey(e.Key)
	if name == "" {
		name = "unknown"
	}
	return fmt.Sprintf("wire: request key %d (%s) version %d correlation id %d: %v",
		e.Key, name, e.Version, e.CorrelationID, e.Err)
}

// Unwrap returns the underlying cause.
func (e *RequestError) Unwrap() error { return e.Err }

func newRequestError(h *Header, err error) *RequestError {
	return &RequestError{Key: h.Key, Version: h.Version, CorrelationID: h.CorrelationID, Err: err}
}
