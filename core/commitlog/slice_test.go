package commitlog

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"testing"
)

func TestReadSliceMatchesRead(t *testing.T) {
	l := openLog(t, t.TempDir(), smallConfig(), Options{})
	for i := range 40 {
		mustAppend(t, l, simpleBatch(t, 1+i%4, 50+i*7, 1))
	}
	leo := l.LogEndOffset()
	for off := int64(0); off <= leo; off++ {
		for _, maxBytes := range []int{0, 500, 3000, 1 << 20} {
			for _, maxOff := range []int64{math.MaxInt64, off + 5} {
				want, err := l.Read(nil, off, maxBytes, maxOff)
				if err != nil {
					t.Fatal(err)
				}
				fs, err := l.ReadSlice(off, maxBytes, maxOff)
				if err != nil {
					t.Fatal(err)
				}
				got, err := fs.AppendTo(nil)
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if n, err := fs.WriteTo(&buf); err != nil || n != fs.Len() {
					t.Fatalf("WriteTo: %d %v", n, err)
				}
				fs.Close()
				if !bytes.Equal(got, want.Data) || !bytes.Equal(buf.Bytes(), want.Data) || fs.NextOffset != want.NextOffset {
					t.Fatalf("offset %d maxBytes %d maxOffset %d: slice %d bytes next %d, read %d bytes next %d",
						off, maxBytes, maxOff, len(got), fs.NextOffset, len(want.Data), want.NextOffset)
				}
			}
		}
	}
	if _, err := l.ReadSlice(leo+1, 10, math.MaxInt64); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatal(err)
	}
}

// TestReadSliceSendfile sends slices of the same segment over two loopback
// TCP connections at once (sendfile with explicit offsets) and checks the
// bytes, and that a slice keeps a deleted segment readable until Close.
func TestReadSliceSendfile(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 700 << 10
	l := openLog(t, t.TempDir(), cfg, Options{})
	for range 200 {
		mustAppend(t, l, simpleBatch(t, 4, 1000, 1))
	}
	if l.NumSegments() != 2 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	want, err := l.Read(nil, 0, 512<<10, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const conns = 2
	var wg sync.WaitGroup
	received := make([][]byte, conns)
	errs := make(chan error, 2*conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ln.Accept()
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			b, err := io.ReadAll(c)
			if err != nil {
				errs <- err
			}
			received[i] = b
		}()
	}
	slices := make([]FileSlice, conns)
	for i := range conns {
		if slices[i], err = l.ReadSlice(0, 512<<10, math.MaxInt64); err != nil {
			t.Fatal(err)
		}
	}
	// Delete the segment under the slices: they keep it readable.
	if _, err := l.DeleteRecordsBefore(l.LogEndOffset() - 1); err != nil {
		t.Fatal(err)
	}
	var sendWG sync.WaitGroup
	for i := range conns {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if n, err := slices[i].WriteTo(c); err != nil || n != int64(len(want.Data)) {
				errs <- errors.Join(err, errors.New("short sendfile"))
			}
		}()
	}
	sendWG.Wait()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range conns {
		if !bytes.Equal(received[i], want.Data) {
			t.Fatalf("connection %d received %d bytes that differ", i, len(received[i]))
		}
	}
	deleted := slices[0].seg.path(logSuffix + deletedSuffix)
	if _, err := os.Stat(deleted); err != nil {
		t.Fatalf("deleted segment gone while referenced: %v", err)
	}
	for i := range conns {
		slices[i].Close()
		slices[i].Close()
	}
	if _, err := os.Stat(deleted); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted segment still there after the last Close: %v", err)
	}
	if _, err := slices[0].WriteTo(io.Discard); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}
