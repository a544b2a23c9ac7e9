// Package wire frames, parses and encodes Kafka protocol messages for the
// broker side of a connection: it reads size-prefixed request frames, parses
// request headers (v1 and the flexible v2), decodes request bodies with kmsg,
// and appends framed responses (header v0 or flexible v1) to a reusable
// buffer. It holds no connection state and writes no wire structs by hand:
// every message body is a kmsg type.
//
// # Request frame
//
//	offset  size  field
//	0       4     size            int32 big-endian, bytes that follow (<= max request size)
//	4       2     api key         int16
//	6       2     api version     int16
//	8       4     correlation id  int32
//	12      2     client id len   int16, -1 = null
//	14      n     client id       bytes (n = client id len, 0 when null)
//	14+n    ...   tagged fields   only in header v2 (flexible request versions):
//	                              uvarint count, then per field uvarint tag,
//	                              uvarint length, length bytes
//	...     ...   body            kmsg request at (api key, api version)
//
// Header v2 is used exactly when the request version is flexible (KIP-482);
// the client id stays a classic nullable string in both header versions.
//
// # Response frame
//
//	offset  size  field
//	0       4     size            int32 big-endian, bytes that follow
//	4       4     correlation id  int32, copied from the request
//	8       1     tagged fields   header v1 only: 0x00 (no fields); written for
//	                              flexible response versions except ApiVersions,
//	                              whose response header is always v0
//	...     ...   body            kmsg response
//
// # Usage
//
//	fr := wire.NewFrameReader(bufio.NewReaderSize(conn, 64<<10), wire.DefaultMaxRequestSize)
//	var h wire.Header // reused: keeps the client id string across requests
//	for {
//		frame, err := fr.Next() // *FrameSizeError, io.EOF, io.ErrUnexpectedEOF, ...
//		if err != nil {
//			return err
//		}
//		req, body, err := wire.ParseHeader(frame, &h)     // ErrUnknownKey, ErrMalformed
//		if err != nil {
//			return err
//		}
//		if err := wire.DecodeBody(req, body); err != nil { // ErrUnsupportedVersion, ErrMalformed
//			return err
//		}
//		resp := handle(h, req)
//		out = wire.AppendResponse(out[:0], h.CorrelationID, resp)
//		conn.Write(out)
//	}
//
// Decoded requests alias their frame (kmsg keeps byte fields such as Produce
// records as sub-slices of it), so every frame is a fresh allocation owned by
// the request and never reused by this package.
package wire
