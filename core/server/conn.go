package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/protocol"
	"github.com/chronik-go/chronik/core/wire"
)

// conn serves one client connection with three goroutines:
//
//   - the frame reader (readFrames) reads request frames off the socket,
//     one frame ahead of the reader;
//   - the reader (readLoop, on the goroutine of serve) takes the frames,
//     decodes them, queues a slot per request in request order and calls
//     the handler, one request at a time; a handler that defers its answer
//     has the wait run on a goroutine of its own, and the reader goes on
//     with the next request;
//   - the writer (writeLoop) takes slots in queue order, waits for each to
//     be ready, and writes the responses, batching those already ready.
//
// So handlers of a connection start in request order and never overlap,
// deferred waits overlap with later requests, and responses leave in
// request order. The queue's capacity bounds the requests in flight.
//
// Shutdown: close() (once) cancels ctx and closes the socket, which stops
// both loops and tells deferred waits to return. A request the server
// refuses (malformed, unknown API, unsupported version) or a failed handler
// stops the reader instead: the writer first writes the responses queued
// before it, then closes.
type conn struct {
	srv    *Server
	nc     net.Conn
	remote net.Addr
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	queue  chan *slot    // reader → writer in request order; closed by the reader
	notify chan struct{} // capacity 1: some slot became ready

	// lastActive is when a byte last moved, as time since srv.epoch.
	lastActive atomic.Int64

	// wg counts the frame reader, the writer and deferred waits; serve
	// waits for it.
	wg sync.WaitGroup

	// stopReason and stopErr say why the reader stopped on its own; the
	// writer reads them after the queue is closed.
	stopReason string
	stopErr    error

	closeOnce   sync.Once
	closeReason string // set once by close
	closeErr    error

	// held is the slot the writer took and has not written yet; serve
	// releases its response after the writer and the waits are done.
	held *slot
	// splices is the writer's reused scratch for spliced responses.
	splices []wire.Splice
}

// slot is one request on its way to a response.
type slot struct {
	req    protocol.Request
	metric *apiMetrics
	start  time.Time

	ready  atomic.Bool // set after resp, err and reason
	resp   kmsg.Response
	err    error
	reason string

	// frame is the request's frame when it goes back to the frame pool
	// once the request is answered (Produce).
	frame []byte
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv:    s,
		nc:     nc,
		remote: nc.RemoteAddr(),
		queue:  make(chan *slot, s.cfg.MaxInFlightPerConnection),
		notify: make(chan struct{}, 1),
	}
	c.log = s.log.With("remote", c.remote.String())
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.touch()
	return c
}

func (c *conn) touch() { c.lastActive.Store(int64(time.Since(c.srv.epoch))) }

// close closes the connection once, recording why.
func (c *conn) close(reason string, err error) {
	c.closeOnce.Do(func() {
		c.closeReason, c.closeErr = reason, err
		c.cancel()
		_ = c.nc.Close()
	})
}

// serve runs the connection to its end and returns when its every
// goroutine is done.
func (c *conn) serve() {
	c.log.Debug("connection opened")
	c.wg.Go(c.writeLoop)
	c.readLoop()
	c.wg.Wait()
	c.close(reasonClient, nil) // no-op unless nothing closed it yet
	// Responses never written may hold file slices: release them. The
	// reader closed the queue, and every writer of a slot is done.
	if c.held != nil {
		releaseResponse(c.held)
	}
	for s := range c.queue {
		releaseResponse(s)
	}

	c.srv.metrics.connClosed(c.closeReason)
	level := slog.LevelDebug
	switch c.closeReason {
	case reasonTooLarge, reasonMalformed, reasonUnknownAPI, reasonUnsupportedVersion, reasonHandlerError, reasonHandlerPanic:
		level = slog.LevelInfo
	}
	if c.closeErr != nil {
		c.log.Log(c.srv.ctx, level, "connection closed", "reason", c.closeReason, "err", c.closeErr)
	} else {
		c.log.Log(c.srv.ctx, level, "connection closed", "reason", c.closeReason)
	}
}

// connReader counts bytes and activity under the read buffer.
type connReader struct{ c *conn }

func (r connReader) Read(p []byte) (int, error) {
	n, err := r.c.nc.Read(p)
	if n > 0 {
		r.c.srv.metrics.bytesIn.Add(float64(n))
		r.c.touch()
	}
	return n, err
}

// frameResult is one frame read ahead, or the read error that ended the
// stream.
type frameResult struct {
	frame []byte
	err   error
}

// readFrames reads frames ahead of the handlers, so that receiving the
// next request overlaps with handling this one (a produce request's log
// write), until a read error (which it hands over too) or until done is
// closed. It is started by readLoop and counted in c.wg; a Read blocked on
// the socket returns when the connection is closed, which every end of a
// connection does.
func (c *conn) readFrames(frames chan<- frameResult, done <-chan struct{}) {
	cfg := &c.srv.cfg
	fr := wire.NewFrameReader(bufio.NewReaderSize(connReader{c}, cfg.ReadBufferSize), cfg.MaxRequestSize)
	fr.SetAlloc(getFrame)
	for {
		frame, err := fr.Next()
		select {
		case frames <- frameResult{frame, err}:
		case <-done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (c *conn) readLoop() {
	defer close(c.queue)
	frames, done := make(chan frameResult, 1), make(chan struct{})
	defer close(done)
	c.wg.Go(func() { c.readFrames(frames, done) })
	var h wire.Header // reused so that the client id string is kept
	for {
		next := <-frames
		frame, err := next.frame, next.err
		if err != nil {
			c.readFailed(err)
			return
		}
		start := time.Now()

		body, rest, err := wire.ParseHeader(frame, &h)
		if err != nil {
			if errors.Is(err, wire.ErrUnknownKey) {
				c.stop(reasonUnknownAPI, err)
			} else {
				c.stop(reasonMalformed, err)
			}
			return
		}
		api, ok := c.srv.apis.Lookup(h.Key)
		if !ok {
			c.stop(reasonUnknownAPI, fmt.Errorf("server: api key %d (%s) version %d correlation id %d is not served",
				h.Key, kmsg.NameForKey(h.Key), h.Version, h.CorrelationID))
			return
		}
		if !api.Supports(h.Version) {
			if !api.AnswersUnsupportedVersions {
				c.stop(reasonUnsupportedVersion, fmt.Errorf("server: %s version %d correlation id %d is not served (versions %d to %d)",
					api.Name(), h.Version, h.CorrelationID, api.MinVersion, api.MaxVersion))
				return
			}
			// ApiVersions: answered without decoding the body.
		} else if err := wire.DecodeBody(body, rest); err != nil {
			var re *wire.RequestError
			if errors.As(err, &re) {
				re.CorrelationID = h.CorrelationID
			}
			c.stop(reasonMalformed, err)
			return
		}

		s := &slot{
			req:    protocol.Request{Header: h, Body: body, RemoteAddr: c.remote, Logger: c.log},
			metric: c.srv.metrics.api(h.Key),
			start:  start,
		}
		if h.Key == produceKey {
			s.frame = frame
		}
		s.metric.requests.Inc()
		select {
		case c.queue <- s:
		case <-c.ctx.Done():
			return
		}

		resp, reason, err := c.call(api, &s.req, nil)
		if err != nil {
			c.complete(s, nil, err, reason)
			return // the writer closes the connection when it reaches s
		}
		if wait := s.req.Deferred(); wait != nil {
			if resp != nil {
				c.complete(s, nil, fmt.Errorf("server: %s handler both deferred and returned a response", api.Name()), reasonHandlerError)
				return
			}
			c.wg.Go(func() {
				resp, reason, err := c.call(api, &s.req, wait)
				c.complete(s, resp, err, reason)
			})
			continue
		}
		c.complete(s, resp, nil, "")
	}
}

// readFailed closes the connection after a read error.
func (c *conn) readFailed(err error) {
	switch {
	case c.ctx.Err() != nil:
		c.close(reasonShutdown, nil) // closed by us; the reason is set
	case errors.Is(err, wire.ErrRequestTooLarge):
		c.close(reasonTooLarge, err)
	case err == io.EOF:
		c.close(reasonClient, nil)
	case errors.Is(err, io.ErrUnexpectedEOF):
		c.close(reasonClient, err) // the client left inside a frame
	default:
		c.close(reasonReadError, err)
	}
}

// stop ends reading after a request the server refuses; the writer writes
// what was queued before it and closes.
func (c *conn) stop(reason string, err error) {
	c.stopReason, c.stopErr = reason, err
}

// call runs a handler (wait == nil) or a deferred wait, turning a panic
// into an error.
func (c *conn) call(api protocol.API, r *protocol.Request, wait protocol.WaitFunc) (resp kmsg.Response, reason string, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("handler panicked", "api", api.Name(), "version", r.Header.Version,
				"correlation_id", r.Header.CorrelationID, "panic", p, "stack", string(debug.Stack()))
			resp, reason, err = nil, reasonHandlerPanic, fmt.Errorf("server: %s handler panicked: %v", api.Name(), p)
		}
	}()
	if wait != nil {
		resp, err = wait(c.ctx)
	} else {
		resp, err = api.Handle(c.ctx, c.srv.broker, r)
	}
	if err != nil {
		return nil, reasonHandlerError, fmt.Errorf("server: %s v%d correlation id %d: %w", api.Name(), r.Header.Version, r.Header.CorrelationID, err)
	}
	return resp, "", nil
}

// releaseResponse releases what an unwritten response holds (the file
// slices of a wire.SplicedResponse).
func releaseResponse(s *slot) {
	if sr, ok := s.resp.(wire.SplicedResponse); ok && s.ready.Load() {
		sr.Release()
	}
	s.resp = nil
}

// complete makes s ready for the writer.
func (c *conn) complete(s *slot, resp kmsg.Response, err error, reason string) {
	if err == nil && resp != nil && resp.Key() != s.req.Header.Key {
		err = fmt.Errorf("server: %s handler returned a %s response", kmsg.NameForKey(s.req.Header.Key), kmsg.NameForKey(resp.Key()))
		resp, reason = nil, reasonHandlerError
	}
	if err != nil {
		s.metric.errors.Inc()
	}
	s.metric.latency.Observe(time.Since(s.start).Seconds())
	s.resp, s.err, s.reason = resp, err, reason
	s.ready.Store(true)
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *conn) writeLoop() {
	maxBuf := c.srv.cfg.WriteBufferSize
	buf := make([]byte, 0, maxBuf)
	for {
		var s *slot
		var ok bool
		select {
		case s, ok = <-c.queue:
		default:
			// Nothing else is queued: write what we have, then wait.
			if !c.flush(&buf) {
				return
			}
			select {
			case s, ok = <-c.queue:
			case <-c.ctx.Done():
				c.close(reasonShutdown, nil)
				return
			}
		}
		c.held = s
		if !ok {
			c.held = nil
			// The reader stopped; everything it queued is written.
			if c.flush(&buf) && c.stopReason != "" {
				c.close(c.stopReason, c.stopErr)
			}
			c.close(reasonReadError, nil) // no-op if the reader's error closed it
			return
		}

		if !s.ready.Load() {
			// Do not hold ready responses back behind a slow one.
			if !c.flush(&buf) {
				return
			}
			for !s.ready.Load() {
				select {
				case <-c.notify:
				case <-c.ctx.Done():
					c.close(reasonShutdown, nil)
					return
				}
			}
		}
		if s.err != nil {
			if c.flush(&buf) {
				c.close(s.reason, s.err)
			}
			return
		}
		if sr, ok := s.resp.(wire.SplicedResponse); ok {
			s.resp = nil
			c.held = nil
			if !c.writeSpliced(&buf, s.req.Header.CorrelationID, sr) {
				return
			}
		} else if s.resp != nil { // nil: a request without response (acks=0)
			buf = wire.AppendResponse(buf, s.req.Header.CorrelationID, s.resp)
			s.resp = nil
		}
		c.held = nil
		if s.frame != nil {
			putFrame(s.frame) // answered and encoded: nothing uses it now
			s.frame = nil
		}
		if len(buf) >= maxBuf && !c.flush(&buf) {
			return
		}
	}
}

// writeSpliced writes the responses in buf and then sr, whose chunks (file
// slices) go from the file to the socket (sendfile) between its encoded
// pieces; the bytes after the last chunk stay in buf to be batched with
// the next responses. sr is released. false means the connection is
// closed.
func (c *conn) writeSpliced(buf *[]byte, correlationID int32, sr wire.SplicedResponse) bool {
	defer sr.Release()
	out, splices, err := wire.AppendSplicedResponse(*buf, correlationID, sr, c.splices[:0])
	c.splices = splices
	defer clear(c.splices) // drop the chunk references
	if err != nil {
		if c.flush(buf) {
			c.close(reasonHandlerError, err)
		}
		return false
	}
	*buf = out
	last := 0
	for _, sp := range splices {
		if !c.write((*buf)[last:sp.At]) {
			return false
		}
		n, err := sp.Chunk.WriteTo(c.nc)
		if n > 0 {
			c.srv.metrics.bytesOut.Add(float64(n))
			c.touch()
		}
		if err == nil && n != sp.Chunk.Len() {
			err = fmt.Errorf("server: sent %d of %d bytes of a record set", n, sp.Chunk.Len())
		}
		if err != nil {
			c.close(reasonWriteError, err)
			return false
		}
		last = sp.At
	}
	*buf = (*buf)[:copy(*buf, (*buf)[last:])]
	return true
}

// write writes b; false means the connection is closed.
func (c *conn) write(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	n, err := c.nc.Write(b)
	if n > 0 {
		c.srv.metrics.bytesOut.Add(float64(n))
		c.touch()
	}
	if err != nil {
		c.close(reasonWriteError, err)
		return false
	}
	return true
}

// flush writes buf, if anything is in it, and empties it; false means the
// connection is closed.
func (c *conn) flush(buf *[]byte) bool {
	if len(*buf) == 0 {
		return true
	}
	if !c.write(*buf) {
		return false
	}
	if cap(*buf) > 4*c.srv.cfg.WriteBufferSize {
		*buf = make([]byte, 0, c.srv.cfg.WriteBufferSize)
	} else {
		*buf = (*buf)[:0]
	}
	return true
}
