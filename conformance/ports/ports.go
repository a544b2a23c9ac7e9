// Package ports picks free loopback addresses for the servers a test
// starts as separate processes (brokers, metadata nodes), from outside the
// kernel's ephemeral port range so that no outgoing connection can take a
// port between the pick and the server's bind.
package ports

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// cursor walks the fixed range from a random start, so that one process
// never hands out a port twice (until it has gone round the range) while
// two processes start far apart. It is process-wide state by nature: the
// ports are.
var cursor struct {
	sync.Mutex
	next int
}

// Free returns n distinct free loopback addresses. The ports come
// from below the kernel's ephemeral port range when it is known (Linux): a
// port from "127.0.0.1:0" is an ephemeral one, and between its release
// here and the node's bind (or a restarted node's bind again) an outgoing
// connection of any process — Raft nodes dial their peers all the time —
// may take it, and the node fails with "address already in use". Outside
// that range only another listener can take it. Within one process a port
// is not handed out again until the whole range has been used. Safe for
// concurrent use.
func Free(n int) ([]string, error) {
	var (
		lns   []net.Listener
		addrs []string
	)
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	lo, hi := fixedPortRange()
	for range n {
		var l net.Listener
		var err error
		for try := 0; try < 64 && hi > lo; try++ {
			if l, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(nextPort(lo, hi)))); err == nil {
				break
			}
		}
		if l == nil {
			if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				return nil, fmt.Errorf("finding a free port: %w", err)
			}
		}
		lns = append(lns, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// nextPort returns the cursor's port in [lo, hi) and advances it.
func nextPort(lo, hi int) int {
	cursor.Lock()
	defer cursor.Unlock()
	if cursor.next < lo || cursor.next >= hi {
		cursor.next = lo + rand.IntN(hi-lo)
	}
	p := cursor.next
	cursor.next++
	return p
}

// fixedPortRange returns the ports [lo, hi) Free picks from: from
// 10000 to the start of the ephemeral range of
// /proc/sys/net/ipv4/ip_local_port_range; an empty range when that is not
// known or leaves no room.
func fixedPortRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0
	}
	start, err := strconv.Atoi(f[0])
	if err != nil || start <= 11000 {
		return 0, 0
	}
	return 10000, start
}
