//go:build linux

package commitlog

import (
	"os"
	"syscall"
)

// datasync flushes a file's data (and the size, which appends change) to
// stable storage with fdatasync.
func datasync(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
