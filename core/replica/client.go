package replica

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/wire"
)

// conn is one connection to a leader broker, used by one fetcher goroutine
// at a time: requests are sent and answered one after the other.
type conn struct {
	c    net.Conn
	r    *wire.FrameReader
	fmt  *kmsg.RequestFormatter
	corr int32
	buf  []byte
	stop func() bool // ends the context watch
}

// maxResponseSize bounds a response frame.
const maxResponseSize = 1 << 30

// dial connects to addr; the connection is closed when ctx ends, which
// unblocks a request in progress.
func dial(ctx context.Context, addr, clientID string, timeout time.Duration) (*conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("replica: dialing leader %s: %w", addr, err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &conn{
		c:    c,
		r:    wire.NewFrameReader(bufio.NewReaderSize(c, 64<<10), maxResponseSize),
		fmt:  kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)),
		stop: context.AfterFunc(ctx, func() { _ = c.Close() }),
	}, nil
}

// close closes the connection.
func (c *conn) close() {
	c.stop()
	_ = c.c.Close()
}

// request sends req and reads its response into resp (req.ResponseKind()
// with the request's version), within timeout. Any error leaves the
// connection unusable: close it.
func (c *conn) request(req kmsg.Request, resp kmsg.Response, timeout time.Duration) error {
	c.corr++
	c.buf = c.fmt.AppendRequest(c.buf[:0], req, c.corr)
	if err := c.c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	if _, err := c.c.Write(c.buf); err != nil {
		return fmt.Errorf("replica: sending %s: %w", kmsg.NameForKey(req.Key()), err)
	}
	frame, err := c.r.Next()
	if err != nil {
		return fmt.Errorf("replica: reading %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	corr, err := wire.ParseResponse(frame, resp)
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	if corr != c.corr {
		return fmt.Errorf("replica: %s response has correlation id %d, want %d", kmsg.NameForKey(req.Key()), corr, c.corr)
	}
	return nil
}
