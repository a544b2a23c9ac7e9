package ports

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeDistinctAndBindable: addresses handed out by one process are
// distinct across calls, and each can be bound.
func TestFreeDistinctAndBindable(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		addrs, err := Free(3)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if seen[a] {
				t.Fatalf("%s handed out twice", a)
			}
			seen[a] = true
			l, err := net.Listen("tcp", a)
			if err != nil {
				t.Fatalf("binding %s: %v", a, err)
			}
			l.Close()
		}
	}
	if lo, hi := fixedPortRange(); hi > lo {
		for a := range seen {
			_, p, _ := net.SplitHostPort(a)
			port, _ := strconv.Atoi(p)
			if port < lo || port >= hi {
				t.Fatalf("%s outside [%d, %d)", a, lo, hi)
			}
		}
	}
}
