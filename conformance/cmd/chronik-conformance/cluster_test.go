package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterUsage: bad invocations of `chronik-conformance cluster` exit 2
// with a message, before starting anything. (The suite itself runs against
// the real chronik binary from the chronik module's tests, which can build
// it: cmd/chronik TestClusterSuiteRaft and TestClusterSuiteEtcd.)
func TestClusterUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster"}, "usage: chronik-conformance cluster"},
		{[]string{"cluster", "--chronik", "x", "extra"}, "usage: chronik-conformance cluster"},
		{[]string{"cluster", "--chronik", "x", "--metadata", "etcd"}, "needs --etcd-endpoints"},
		{[]string{"cluster", "--chronik", "x", "--session-timeout", "0s"}, "must be positive"},
		{[]string{"cluster", "--chronik", filepath.Join(t.TempDir(), "missing")}, "not a file"},
		{[]string{"cluster", "--chronik", "x", "--run", "("}, "--run"},
	} {
		var out, errOut bytes.Buffer
		code := run(tc.args, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr lacks %q:\n%s", tc.args, code, tc.want, errOut.String())
		}
	}
}

func TestClusterList(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"cluster", "--list"}, &out, &errOut); code != 0 {
		t.Fatalf("cluster --list: exit %d: %s", code, errOut.String())
	}
	for _, name := range []string{"brokers-listed", "topic-everywhere", "produce-consume", "kill-fenced", "restart-epoch", "full-restart"} {
		if !strings.Contains(out.String(), name+"\n") {
			t.Errorf("--list lacks %s:\n%s", name, out.String())
		}
	}
}
