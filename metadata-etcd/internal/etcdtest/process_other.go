//go:build !linux

package etcdtest

import (
	"net"
	"os/exec"
	"time"
)

// dieWithParent: only Linux can have the kernel kill a member process
// with the test process; elsewhere the cleanups kill it.
func dieWithParent(*exec.Cmd) {}

// listensOn: without Linux's /proc, whether the port accepts connections
// (which may be another process's listener, while the member exits).
func listensOn(_ int, addr string) bool { return listening(addr) }

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
