package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chronik-go/chronik/conformance"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// raceFlags builds the CLI with -race when this test is (race_test.go).
var raceFlags []string

// Binaries built once by TestMain.
var (
	cliBin      string // chronik-conformance
	memoryBin   string // the example memory plugin
	blindCASBin string // testdata: a plugin whose compare-and-set is broken
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "chronik-conformance-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		cliBin = filepath.Join(dir, "chronik-conformance")
		memoryBin = filepath.Join(dir, "chronik-metadata-memory")
		blindCASBin = filepath.Join(dir, "chronik-metadata-blindcas")
		builds := [][]string{
			append(append([]string{"build"}, raceFlags...), "-o", cliBin, "."),
			{"build", "-o", memoryBin, "github.com/chronik-go/chronik/plugins/examples/chronik-metadata-memory"},
			{"build", "-o", blindCASBin, "./testdata/chronik-metadata-blindcas"},
		}
		for _, args := range builds {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
			cancel()
			if err != nil {
				fmt.Fprintf(os.Stderr, "go %s: %v\n%s", strings.Join(args, " "), err, out)
				return 1
			}
		}
		return m.Run()
	}())
}

// runCLI runs the built CLI and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running %s: %v", cliBin, err)
		}
		code = ee.ExitCode()
	}
	return code, out.String()
}

var summaryRE = regexp.MustCompile(`^(\d+) passed, (\d+) failed, (\d+) skipped$`)

func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestCLIPassesMemoryPlugin is the end-to-end run: every check against the
// example memory plugin, three plugin processes per cluster.
func TestCLIPassesMemoryPlugin(t *testing.T) {
	code, out := runCLI(t, "--plugin", memoryBin, "--nodes", "3")
	t.Logf("output:\n%s", out)
	m := summaryRE.FindStringSubmatch(lastLine(out))
	if m == nil {
		t.Fatalf("last line %q is not a summary", lastLine(out))
	}
	if code != 0 || m[2] != "0" {
		t.Fatalf("exit code %d, summary %q; want 0 failed", code, m[0])
	}
	statusLines := regexp.MustCompile(`(?m)^(PASS|FAIL|SKIP)  ([^\s:]+)`).FindAllStringSubmatch(out, -1)
	if len(statusLines) != len(conformance.Checks()) {
		t.Errorf("%d checks reported, the suite has %d", len(statusLines), len(conformance.Checks()))
	}
	for _, l := range statusLines {
		if l[1] == "SKIP" && !strings.Contains(out, l[2]+": needs ") {
			t.Errorf("check %s skipped without naming what it needs", l[2])
		}
	}
	// The memory plugin lacks persistence and failover only.
	want := 0
	for _, c := range conformance.Checks() {
		if slices.Contains(c.Needs, metadata.CapPersistence) || slices.Contains(c.Needs, metadata.CapFailover) {
			want++
		}
	}
	if m[3] != strconv.Itoa(want) {
		t.Errorf("%s checks skipped, want the %d needing persistence or failover", m[3], want)
	}
}

// TestCLIFailsBrokenPlugin: a plugin with a broken compare-and-set fails
// exactly the compare-and-set checks, and the exit code says so.
func TestCLIFailsBrokenPlugin(t *testing.T) {
	code, out := runCLI(t, "--plugin", blindCASBin, "--run", "Partition/StaleExpected|Concurrency/AlterPartition|Topics/CreateExisting")
	t.Logf("output:\n%s", out)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if got := lastLine(out); got != "1 passed, 2 failed, 0 skipped" {
		t.Errorf("summary %q, want 1 passed, 2 failed, 0 skipped", got)
	}
	for _, want := range []string{
		"FAIL  Concurrency/AlterPartitionOneWinner",
		"FAIL  Partition/StaleExpectedEpochRejected",
		"PASS  Topics/CreateExistingFails",
		"want exactly 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestCLIUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: chronik-conformance --plugin PATH"},
		{[]string{"--plugin", memoryBin, "--set", "novalue"}, 2, `want key=value`},
		{[]string{"--plugin", memoryBin, "--run", "("}, 2, "bad --run pattern"},
		{[]string{"--plugin", memoryBin, "--nodes", "0"}, 2, "must be positive"},
		{[]string{"--plugin", filepath.Join(t.TempDir(), "missing")}, 2, "chronik-conformance:"},
		{[]string{"--list"}, 0, "Watch/CompleteOrderedIdenticalOnEveryNode\n\t"},
		{[]string{"--plugin", memoryBin, "--run", "^NoSuchCheck$"}, 0, "0 passed, 0 failed, 0 skipped"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		code := run(c.args, &out, &out)
		if code != c.code || !strings.Contains(out.String(), c.want) {
			t.Errorf("run(%q) = %d, output %q; want %d and %q", c.args, code, out.String(), c.code, c.want)
		}
	}
}
