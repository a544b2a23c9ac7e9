package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsKey is ApiVersions, whose response header is always v0.
const apiVersionsKey = 18

// DecodeBody decodes body into req, the request ParseHeader returned, at the
// version already set on it. Byte fields of req alias body.
//
// Errors (as *RequestError): ErrUnsupportedVersion when the version is
// negative or above req.MaxVersion() — body is then not read, which is what
// an ApiVersions request of a newer version needs: the caller answers it
// without decoding (KIP-511); ErrMalformed (wrapping kmsg's error) when the
// body does not parse.
func DecodeBody(req kmsg.Request, body []byte) error {
	v := req.GetVersion()
	if v < 0 || v > req.MaxVersion() {
		return &RequestError{Key: req.Key(), Version: v, Err: fmt.Errorf("%w: kmsg decodes versions 0 to %d", ErrUnsupportedVersion, req.MaxVersion())}
	}
	if err := req.ReadFrom(body); err != nil {
		return &RequestError{Key: req.Key(), Version: v, Err: fmt.Errorf("%w: %w", ErrMalformed, err)}
	}
	return nil
}

// ParseRequest parses a whole request frame: ParseHeader then DecodeBody.
// Errors are those of both, as *RequestError carrying the parsed header.
func ParseRequest(frame []byte, h *Header) (kmsg.Request, error) {
	req, body, err := ParseHeader(frame, h)
	if err != nil {
		return nil, err
	}
	if err := DecodeBody(req, body); err != nil {
		err.(*RequestError).CorrelationID = h.CorrelationID
		return nil, err
	}
	return req, nil
}

// ResponseHeaderFlexible reports whether a response is sent with the
// flexible response header v1 (a tagged-field byte after the correlation
// id): flexible versions of every api except ApiVersions, whose response
// header stays v0 so that a client can always read it.
func ResponseHeaderFlexible(resp kmsg.Response) bool {
	return resp.IsFlexible() && resp.Key() != apiVersionsKey
}

// AppendResponse appends resp as a complete response frame (size,
// correlation id, tagged fields for header v1, body) to dst and returns the
// extended slice. It allocates only if dst has too little capacity, so a
// connection reuses one buffer for all its responses.
//
// A SplicedResponse is encoded with its chunks copied in, then released;
// it panics if the response does not hold its placeholders or a chunk
// cannot be read (connections use AppendSplicedResponse, which returns
// errors).
func AppendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	if sr, ok := resp.(SplicedResponse); ok {
		defer sr.Release()
		out, err := appendSpliced(dst, correlationID, sr)
		if err != nil {
			panic(fmt.Sprintf("wire: encoding a spliced %s response: %v", kmsg.NameForKey(resp.Key()), err))
		}
		return out
	}
	return appendResponse(dst, correlationID, resp)
}

func appendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, 0) // size, patched below
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if ResponseHeaderFlexible(resp) {
		dst = append(dst, 0) // no tagged fields
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// ParseResponse parses a response frame (without its size prefix) into resp,
// whose version must already be set to the one the request was sent with
// (kmsg's req.ResponseKind() does that), and returns the correlation id. It
// is the client side of AppendResponse, used by tests and tools.
//
// Errors wrap ErrMalformed.
func ParseResponse(frame []byte, resp kmsg.Response) (int32, error) {
	if len(frame) < 4 {
		return 0, fmt.Errorf("%w: %d-byte response has no correlation id", ErrMalformed, len(frame))
	}
	corr := int32(binary.BigEndian.Uint32(frame))
	body := frame[4:]
	if ResponseHeaderFlexible(resp) {
		var err error
		if body, err = skipTags(body); err != nil {
			return corr, fmt.Errorf("%w: response header tagged fields: %w", ErrMalformed, err)
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return corr, fmt.Errorf("%w: response key %d version %d: %w", ErrMalformed, resp.Key(), resp.GetVersion(), err)
	}
	return corr, nil
}
