//go:build linux

package commitlog

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// maxSendfileChunk bounds one sendfile call.
const maxSendfileChunk = 4 << 20

// sendFile copies n bytes of f from pos to w with sendfile(2) and an
// explicit offset (the file's own offset is never used, so concurrent
// senders of the same file do not interfere). handled=false means w has no
// file descriptor and nothing was written.
func sendFile(w io.Writer, f *os.File, pos, n int64) (written int64, handled bool, err error) {
	sc, ok := w.(syscall.Conn)
	if !ok {
		return 0, false, nil
	}
	out, err := sc.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	in, err := f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var serr error
	cerr := in.Control(func(infd uintptr) {
		off := pos
		werr := out.Write(func(outfd uintptr) bool {
			for written < n {
				m, err := syscall.Sendfile(int(outfd), int(infd), &off, int(min(n-written, maxSendfileChunk)))
				if m > 0 {
					written += int64(m)
				}
				switch {
				case err == syscall.EAGAIN:
					return false // wait until the socket is writable
				case err == syscall.EINTR:
					continue
				case err != nil:
					serr = err
					return true
				case m == 0:
					serr = io.ErrUnexpectedEOF // the file is shorter than the slice
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if serr == nil {
		serr = cerr
	}
	if serr != nil {
		return written, true, fmt.Errorf("commitlog: sendfile: %w", serr)
	}
	return written, true, nil
}
