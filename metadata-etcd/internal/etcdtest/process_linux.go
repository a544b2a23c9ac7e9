package etcdtest

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// dieWithParent has the kernel kill a member process when the test process
// dies (a panic or a test timeout skips the cleanups).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// listensOn reports whether process pid holds a TCP socket listening on
// addr (an IPv4 host:port). A connection to the port is not proof enough:
// while a member is down, another process on the machine (another test's
// etcd) may take its port, and the member then exits on start.
func listensOn(pid int, addr string) bool {
	inodes := listeningInodes(addr)
	if len(inodes) == 0 {
		return false
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		link, err := os.Readlink(dir + "/" + fd.Name())
		if err == nil && inodes[link] {
			return true
		}
	}
	return false
}

// listeningInodes are the sockets ("socket:[inode]") that listen on addr,
// from /proc/net/tcp.
func listeningInodes(addr string) map[string]bool {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host).To4()
	port, err := strconv.Atoi(portStr)
	if ip == nil || err != nil {
		return nil
	}
	// /proc/net/tcp prints the address as the in-memory (network order)
	// 32 bits read as a native integer, and the port in host order.
	local := fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ip), port)
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return nil
	}
	inodes := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		const listen = "0A"
		if len(f) > 9 && f[1] == local && f[3] == listen {
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	return inodes
}
