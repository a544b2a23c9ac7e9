package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is a process's resident memory during a run, in MiB, from
// /proc/PID/status: the peak VmRSS sampled every 100 ms, the last sample,
// and VmHWM (the kernel's high-water mark over the process's whole life);
// and the CPU time it used during the run (user + system, from
// /proc/PID/stat), which on a shared machine compares brokers better than
// throughput does.
type Memory struct {
	PID        int     `json:"pid"`
	PeakRSS    float64 `json:"peak_rss_mib"`
	LastRSS    float64 `json:"last_rss_mib"`
	HWM        float64 `json:"hwm_mib"`
	CPUSeconds float64 `json:"cpu_seconds"`
	Samples    int     `json:"samples"`
	LastError  string  `json:"error,omitempty"`
}

// memWatch samples a process's memory until stop.
type memWatch struct {
	stopc    chan struct{}
	wg       sync.WaitGroup
	m        Memory
	cpuStart float64
}

// startMemWatch starts sampling pid; pid <= 0 watches nothing.
func startMemWatch(pid int) *memWatch {
	if pid <= 0 {
		return nil
	}
	w := &memWatch{stopc: make(chan struct{}), m: Memory{PID: pid}}
	w.cpuStart, _ = ReadProcCPU(pid)
	w.sample()
	w.wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.stopc:
				return
			case <-t.C:
				w.sample()
			}
		}
	})
	return w
}

func (w *memWatch) sample() {
	rss, hwm, err := ReadProcMemory(w.m.PID)
	if err != nil {
		w.m.LastError = err.Error()
		return
	}
	w.m.Samples++
	w.m.LastRSS = rss
	w.m.PeakRSS = max(w.m.PeakRSS, rss)
	w.m.HWM = hwm
}

// stop ends the sampling (one last sample) and returns the result; nil for
// a nil watch.
func (w *memWatch) stop() *Memory {
	if w == nil {
		return nil
	}
	close(w.stopc)
	w.wg.Wait()
	w.sample()
	if cpu, err := ReadProcCPU(w.m.PID); err == nil {
		w.m.CPUSeconds = cpu - w.cpuStart
	} else {
		w.m.LastError = err.Error()
	}
	m := w.m
	return &m
}

// ReadProcMemory reads VmRSS and VmHWM of pid from /proc/PID/status, in
// MiB. It fails where there is no /proc (not Linux) or no such process.
func ReadProcMemory(pid int) (rss, hwm float64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("bench: reading process memory: %w", err)
	}
	defer f.Close()
	var found int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("bench: parsing %s of process %d: %w", key, pid, err)
		}
		if key == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("bench: reading process memory: %w", err)
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("bench: no VmRSS/VmHWM for process %d", pid)
	}
	return rss, hwm, nil
}

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// ReadProcCPU reads the CPU time (user + system) pid has used, in seconds,
// from /proc/PID/stat.
func ReadProcCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: reading process cpu time: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields after it start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: malformed /proc/%d/stat", pid)
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: malformed /proc/%d/stat", pid)
	}
	return (utime + stime) / clockTicks, nil
}
