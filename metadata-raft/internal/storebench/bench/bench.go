// Package bench is the store benchmark program shared by storebench (raft
// v1.7.3 + raft-boltdb/v2) and storebench/wal (raft v1.8.0 + raft-wal, a
// module of its own): commit latency of small sequential Apply calls on a
// single-node Raft, throughput of concurrent ones, and recovery after
// SIGKILL (a child process applies in a loop and prints every acknowledged
// index; the parent kills it, reopens the store and checks that no
// acknowledged entry is missing).
package bench

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// OpenStore opens the log and stable store in dir; the closer closes both.
type OpenStore func(dir string) (raft.LogStore, raft.StableStore, io.Closer, error)

type fsm struct{ n atomic.Uint64 }

func (f *fsm) Apply(l *raft.Log) any               { f.n.Store(l.Index); return nil }
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) { return snap{}, nil }
func (f *fsm) Restore(r io.ReadCloser) error       { return r.Close() }

type snap struct{}

func (snap) Persist(s raft.SnapshotSink) error { return s.Close() }
func (snap) Release()                          {}

func open(dir string, openStore OpenStore) (*raft.Raft, *fsm, io.Closer, time.Duration) {
	t0 := time.Now()
	ls, ss, c, err := openStore(dir)
	if err != nil {
		panic(err)
	}
	openDur := time.Since(t0)
	snaps, err := raft.NewFileSnapshotStore(dir, 1, io.Discard)
	if err != nil {
		panic(err)
	}
	cfg := raft.DefaultConfig()
	cfg.LocalID = "1"
	cfg.Logger = hclog.NewNullLogger()
	cfg.HeartbeatTimeout = 100 * time.Millisecond
	cfg.ElectionTimeout = 100 * time.Millisecond
	cfg.LeaderLeaseTimeout = 100 * time.Millisecond
	cfg.SnapshotThreshold = 1 << 40
	cfg.SnapshotInterval = time.Hour
	addr, tr := raft.NewInmemTransport("1")
	has, err := raft.HasExistingState(ls, ss, snaps)
	if err != nil {
		panic(err)
	}
	if !has {
		if err := raft.BootstrapCluster(cfg, ls, ss, snaps, tr, raft.Configuration{Servers: []raft.Server{{ID: "1", Address: addr}}}); err != nil {
			panic(err)
		}
	}
	f := &fsm{}
	r, err := raft.NewRaft(cfg, f, ls, ss, snaps, tr)
	if err != nil {
		panic(err)
	}
	for r.State() != raft.Leader {
		time.Sleep(time.Millisecond)
	}
	return r, f, c, openDur
}

func pct(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p)]
}

var payload = make([]byte, 100)

// Main runs the benchmark program (flags -mode, -dir, ...) on the store
// openStore opens.
func Main(openStore OpenStore) {
	mode := flag.String("mode", "bench", "bench | child | recover")
	dir := flag.String("dir", "", "data dir")
	n := flag.Int("n", 2000, "sequential applies")
	par := flag.Int("par", 32, "concurrent appliers for throughput")
	total := flag.Int("total", 20000, "applies in the throughput run")
	runFor := flag.Duration("run", 3*time.Second, "recover: how long the child applies before SIGKILL")
	flag.Parse()
	switch *mode {
	case "bench":
		d, _ := os.MkdirTemp(*dir, "sb")
		defer os.RemoveAll(d)
		r, _, c, _ := open(d, openStore)
		lat := make([]time.Duration, 0, *n)
		for i := 0; i < *n; i++ {
			t := time.Now()
			if err := r.Apply(payload, 5*time.Second).Error(); err != nil {
				panic(err)
			}
			lat = append(lat, time.Since(t))
		}
		fmt.Printf("sequential %d applies: p50=%v p99=%v max=%v\n", *n, pct(lat, .5), pct(lat, .99), pct(lat, 1))
		var wg sync.WaitGroup
		var next atomic.Int64
		t := time.Now()
		for g := 0; g < *par; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(*total) {
					if err := r.Apply(payload, 5*time.Second).Error(); err != nil {
						panic(err)
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(t)
		fmt.Printf("throughput %d applies by %d goroutines: %.0f/s\n", *total, *par, float64(*total)/el.Seconds())
		r.Shutdown().Error()
		c.Close()
	case "child":
		r, _, _, _ := open(*dir, openStore)
		w := bufio.NewWriter(os.Stdout)
		for {
			f := r.Apply(payload, 5*time.Second)
			if err := f.Error(); err != nil {
				panic(err)
			}
			fmt.Fprintln(w, f.Index())
			w.Flush()
		}
	case "recover":
		d, _ := os.MkdirTemp(*dir, "sb")
		defer os.RemoveAll(d)
		cmd := exec.Command(os.Args[0], "-mode=child", "-dir="+d)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		var last atomic.Uint64
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				v, _ := strconv.ParseUint(sc.Text(), 10, 64)
				last.Store(v)
			}
		}()
		time.Sleep(*runFor)
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		cmd.Wait()
		acked := last.Load()
		var size int64
		filepath.Walk(d, func(_ string, fi os.FileInfo, _ error) error {
			if fi != nil && !fi.IsDir() {
				size += fi.Size()
			}
			return nil
		})
		t0 := time.Now()
		r, f, c, openDur := open(d, openStore)
		elected := time.Since(t0)
		// wait until the FSM applied everything in the log
		li := r.LastIndex()
		for f.n.Load() < li-1 {
			time.Sleep(time.Millisecond)
		}
		applied := time.Since(t0)
		lost := ""
		if li < acked {
			lost = fmt.Sprintf(" LOST %d acknowledged entries", acked-li)
		}
		fmt.Printf("recover: acked=%d last-index-after-reopen=%d (%.1f MiB on disk) open-store=%v leader=%v all-applied=%v%s\n",
			acked, li, float64(size)/(1<<20), openDur, elected, applied, lost)
		r.Shutdown().Error()
		c.Close()
	}
}
