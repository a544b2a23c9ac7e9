//go:build unix

package commitlog

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is taken with flock(LOCK_EX|LOCK_NB) by Open so that two Logs
// (in this process or another) never write the same directory.
const lockFile = ".lock"

// lockDir locks dir and returns the unlock function.
func lockDir(dir string) (func() error, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("commitlog: lock file: %w", err)
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("commitlog: lock file: %w", err)
	}
	var lerr error
	if err := raw.Control(func(fd uintptr) {
		lerr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
	}); err != nil {
		lerr = err
	}
	if lerr != nil {
		f.Close()
		return nil, fmt.Errorf("commitlog: %s is in use by another log: %w", dir, lerr)
	}
	return f.Close, nil
}
