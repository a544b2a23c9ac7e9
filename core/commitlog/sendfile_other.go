//go:build !linux

package commitlog

import (
	"io"
	"os"
)

// sendFile is not available: the caller copies through a buffer.
func sendFile(io.Writer, *os.File, int64, int64) (int64, bool, error) { return 0, false, nil }
