package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildExamplePlugin builds the example memory plugin into dir as
// chronik-metadata-memory.
func buildExamplePlugin(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "chronik-metadata-memory")
	cmd := exec.Command("go", "build", "-o", out, "github.com/chronik-go/chronik/plugins/examples/chronik-metadata-memory")
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the example plugin: %v\n%s", err, b)
	}
	return out
}

// runChronikBinary runs the built chronik binary (so that its built-in
// plugins, which are the binary itself, can start) with PATH set to path.
func runChronikBinary(t *testing.T, path string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(chronikBinary, args...)
	cmd.Env = append(os.Environ(), "PATH="+path)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%w: %s", err, errOut.String())
	}
	return out.String(), nil
}

// lineFor returns the listing line of the backend name, or "".
func lineFor(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}

func TestPluginsListsDiscoveredPluginsWithInfo(t *testing.T) {
	dir := t.TempDir()
	path := buildExamplePlugin(t, dir)
	// A plain file with the prefix that is not executable must not be listed
	// as a plugin nor break the listing.
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runChronikBinary(t, t.TempDir(), "plugins", "--plugin-dir", dir)
	if err != nil {
		t.Fatalf("chronik plugins: %v\n%s", err, out)
	}
	if l := lineFor(out, "raft"); !strings.Contains(l, "(built-in)") || !strings.Contains(l, "persistence") || !strings.Contains(l, "membership") {
		t.Errorf("built-in raft line %q", l)
	}
	if l := lineFor(out, "etcd"); !strings.Contains(l, "(built-in)") || !strings.Contains(l, "persistence") {
		t.Errorf("built-in etcd line %q", l)
	}
	line := lineFor(out, "memory")
	if line == "" {
		t.Fatalf("memory plugin not listed:\n%s", out)
	}
	for _, want := range []string{"multi-node", "compact", path} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
}

func TestPluginsReportsBrokenPlugin(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "chronik-metadata-broken")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\necho not a plugin\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := runChronikBinary(t, t.TempDir(), "plugins", "--plugin-dir", dir, "--timeout", "5s")
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("err = %v, want a failure naming the broken plugin\n%s", err, out)
	}
	if !strings.Contains(out, "broken") || !strings.Contains(out, "error:") {
		t.Fatalf("output does not show the broken plugin's error:\n%s", out)
	}
}

func TestPluginsEmpty(t *testing.T) {
	out, err := runChronikBinary(t, t.TempDir(), "plugins", "--plugin-dir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if lineFor(out, "raft") == "" {
		t.Errorf("the built-in raft backend is not listed:\n%s", out)
	}
	// Nothing on PATH, an empty plugin dir, and the binary's own directory
	// holds no chronik-metadata-*.
	if !strings.Contains(out, "no chronik-metadata-* plugins found") {
		t.Fatalf("unexpected output:\n%s", out)
	}
}
