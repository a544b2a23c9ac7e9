//go:build unix

package partition

import "syscall"

// diskUsage returns the size and the space available to this process of
// the file system holding dir.
func diskUsage(dir string) (total, usable int64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, -1, false
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize), true
}
