package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/conformance/ports"
)

// freePort returns a loopback address with a port free right now, from
// outside the ephemeral range (ports.Free): a port from :0 can be taken by
// any outgoing connection before the broker binds it.
func freePort(t *testing.T) string {
	t.Helper()
	addrs, err := ports.Free(1)
	if err != nil {
		t.Fatal(err)
	}
	return addrs[0]
}

type chronikProc struct {
	cmd   *exec.Cmd
	kafka string
	http  string
	out   *syncBuffer
	done  chan error
}

// startChronik runs the chronik binary as a broker with its data in dir.
func startChronik(t *testing.T, dir string, extra ...string) *chronikProc {
	t.Helper()
	p := &chronikProc{kafka: freePort(t), http: freePort(t), out: &syncBuffer{}, done: make(chan error, 1)}
	args := append([]string{"--data-dir", dir, "--listen", p.kafka, "--http", p.http,
		"--metadata.address", freePort(t)}, extra...)
	p.cmd = exec.Command(chronikBinary, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("chronik output:\n%s", p.out.String())
		}
	})
	return p
}

// waitReady polls /readyz until it answers 200.
func (p *chronikProc) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.http + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("chronik not ready within 30s (last: %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *chronikProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("chronik exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("chronik did not exit within 30s of SIGTERM")
	}
}

// TestRunSingleBroker: chronik with only ports and a data dir set runs a
// broker on the embedded Raft backend that a Kafka client can talk to,
// says where it listens, stops cleanly on SIGTERM, and comes back on the
// same data.
func TestRunSingleBroker(t *testing.T) {
	dir := t.TempDir()
	p := startChronik(t, dir)
	p.waitReady(t)
	if out := p.out.String(); !strings.Contains(out, `msg="chronik is listening" kafka=`+p.kafka) {
		t.Fatalf("no startup line naming the Kafka address:\n%s", out)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	cl.Close()
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions: %+v, %v", resp, err)
	}
	p.stop(t)
	if _, err := os.Stat(dir + "/metadata"); err != nil {
		t.Fatalf("no metadata state under the data dir: %v", err)
	}

	// Restart on the same data: the Raft node reopens its state (no
	// re-bootstrap) and the broker registers again.
	p2 := startChronik(t, dir)
	p2.waitReady(t)
	p2.stop(t)
	if out := p2.out.String(); strings.Contains(out, "bootstrapped raft cluster") {
		t.Fatalf("the restarted node bootstrapped again:\n%s", out)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--advertised", "0.0.0.0:9092"}, "0.0.0.0"},
		{[]string{"--metadata.peers", "1@nope"}, "metadata.peers"},
		{[]string{"--metadata", "nosuchbackend"}, "not a built-in backend"},
		{[]string{"--broker-id", "-3"}, "broker-id"},
	} {
		cmd := exec.Command(chronikBinary, append([]string{"--data-dir", t.TempDir(), "--listen", freePort(t), "--http", ""}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("chronik %v: err %v, output lacks %q:\n%s", tc.args, err, tc.want, out)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
