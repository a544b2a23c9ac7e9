//go:build !unix

package partition

// diskUsage is unknown on this platform.
func diskUsage(string) (total, usable int64, ok bool) { return -1, -1, false }
