package plugins

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func init() {
	osHostTests = append(osHostTests, hostTest{"PluginDiesWithKilledHost", testHostPdeathsig})
}

// testHostPdeathsig starts a host process (this test binary as a helper)
// that loads the plugin, SIGKILLs the host, and waits for the plugin to be
// gone: the parent-death signal must take it down.
func testHostPdeathsig(t *testing.T, plugin string) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), hostHelperEnv+"=host", hostPluginEnv+"="+plugin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the helper host: %v", err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := make(chan string, 1)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatalf("the helper host did not report its plugin's pid")
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "pid="))
	if err != nil || pid <= 0 {
		t.Fatalf("helper said %q, want pid=<n>", line)
	}
	if processGone(pid) {
		t.Fatalf("plugin %d is not running before the host is killed", pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 host: %v", err)
	}
	_ = cmd.Wait()
	waited = true
	<-readDone
	hostEventually(t, 10*time.Second, func() bool { return processGone(pid) },
		"plugin %d outlived its SIGKILLed host", pid)
}
