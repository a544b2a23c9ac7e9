//go:build unix

package plugins

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeExe writes an executable (or, with mode 0o644, a non-executable)
// file dir/name and returns its path.
func writeExe(t *testing.T, dir, name string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func fakeExecutable(dir string) func() (string, error) {
	return func() (string, error) { return filepath.Join(dir, "chronik"), nil }
}

func TestDiscoverOrder(t *testing.T) {
	pluginDir, exeDir, path1, path2 := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	pathEnv := strings.Join([]string{path1, "relative/dir", path2}, string(os.PathListSeparator))
	name := ExecutablePrefix + "x"

	inPath2 := writeExe(t, path2, name, 0o755)
	places := searchDirs(pluginDir, fakeExecutable(exeDir), pathEnv)
	if got, err := discover("x", places); err != nil || got != inPath2 {
		t.Fatalf("only in the second PATH dir: got %q, %v; want %q", got, err, inPath2)
	}
	inPath1 := writeExe(t, path1, name, 0o755)
	if got, _ := discover("x", places); got != inPath1 {
		t.Fatalf("PATH order: got %q, want %q", got, inPath1)
	}
	inExeDir := writeExe(t, exeDir, name, 0o755)
	if got, _ := discover("x", places); got != inExeDir {
		t.Fatalf("the executable's dir comes before PATH: got %q, want %q", got, inExeDir)
	}
	// Not executable: skipped.
	writeExe(t, pluginDir, name, 0o644)
	if got, _ := discover("x", places); got != inExeDir {
		t.Fatalf("a non-executable file in the plugin dir was taken: got %q", got)
	}
	inPluginDir := writeExe(t, pluginDir, ExecutablePrefix+"x", 0o755)
	if err := os.Chmod(inPluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, _ := discover("x", places); got != inPluginDir {
		t.Fatalf("the plugin dir comes first: got %q, want %q", got, inPluginDir)
	}
	// Without a plugin dir, the executable's dir is first.
	if got, _ := discover("x", searchDirs("", fakeExecutable(exeDir), pathEnv)); got != inExeDir {
		t.Fatalf("no plugin dir: got %q, want %q", got, inExeDir)
	}
}

func TestDiscoverNotFoundNamesEveryPlace(t *testing.T) {
	pluginDir, exeDir, path1, path2 := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	pathEnv := strings.Join([]string{path1, path2}, string(os.PathListSeparator))
	_, err := discover("nope", searchDirs(pluginDir, fakeExecutable(exeDir), pathEnv))
	if !errors.Is(err, ErrPluginNotFound) {
		t.Fatalf("err = %v, want ErrPluginNotFound", err)
	}
	for _, want := range []string{ExecutablePrefix + "nope", "plugin dir " + pluginDir, "executable dir " + exeDir, "PATH " + path1, "PATH " + path2} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if _, err := discover("", nil); !errors.Is(err, ErrPluginNotFound) {
		t.Fatalf("empty name: %v, want ErrPluginNotFound", err)
	}
}

func TestDiscoverExplicitPath(t *testing.T) {
	dir := t.TempDir()
	exe := writeExe(t, dir, "my-backend", 0o755)
	writeExe(t, dir, "not-exec", 0o644)
	if got, err := Discover(exe, ""); err != nil || got != exe {
		t.Fatalf("Discover(%q) = %q, %v", exe, got, err)
	}
	t.Chdir(dir)
	if got, err := Discover("./my-backend", ""); err != nil || got != exe {
		t.Fatalf("Discover(./my-backend) = %q, %v; want %q", got, err, exe)
	}
	for _, p := range []string{"./missing", "./not-exec", dir + "/"} {
		if _, err := Discover(p, ""); !errors.Is(err, ErrPluginNotFound) {
			t.Fatalf("Discover(%q) = %v, want ErrPluginNotFound", p, err)
		}
	}
}

// TestDiscoverRealPlaces goes through Discover's own sources: the running
// executable's directory and $PATH.
func TestDiscoverRealPlaces(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err = filepath.EvalSymlinks(exe)
	if err != nil {
		t.Fatal(err)
	}
	name := "nexttoexe" + filepath.Base(t.TempDir())
	next := writeExe(t, filepath.Dir(exe), ExecutablePrefix+name, 0o755)
	t.Cleanup(func() { _ = os.Remove(next) })
	t.Setenv("PATH", "")
	if got, err := Discover(name, ""); err != nil || got != next {
		t.Fatalf("Discover next to the executable = %q, %v; want %q", got, err, next)
	}

	pathDir := t.TempDir()
	inPath := writeExe(t, pathDir, ExecutablePrefix+"inpath", 0o755)
	t.Setenv("PATH", pathDir)
	if got, err := Discover("inpath", ""); err != nil || got != inPath {
		t.Fatalf("Discover from PATH = %q, %v; want %q", got, err, inPath)
	}
	pluginDir := t.TempDir()
	inDir := writeExe(t, pluginDir, ExecutablePrefix+"inpath", 0o755)
	if got, err := Discover("inpath", pluginDir); err != nil || got != inDir {
		t.Fatalf("Discover with a plugin dir = %q, %v; want %q", got, err, inDir)
	}
	all, err := DiscoverAll(pluginDir)
	if err != nil {
		t.Fatal(err)
	}
	want := []DiscoveredPlugin{{Name: "inpath", Path: inDir}, {Name: name, Path: next}}
	if !slices.Equal(all, want) {
		t.Fatalf("DiscoverAll = %+v, want %+v", all, want)
	}
}

func TestDiscoverAll(t *testing.T) {
	pluginDir, exeDir, pathDir := t.TempDir(), t.TempDir(), t.TempDir()
	a := writeExe(t, pluginDir, ExecutablePrefix+"a", 0o755)
	writeExe(t, pathDir, ExecutablePrefix+"a", 0o755) // shadowed by the plugin dir
	b := writeExe(t, pathDir, ExecutablePrefix+"b", 0o755)
	c := writeExe(t, exeDir, ExecutablePrefix+"c", 0o755)
	writeExe(t, pathDir, ExecutablePrefix+"c", 0o755) // shadowed by the executable's dir
	writeExe(t, pluginDir, ExecutablePrefix+"noexec", 0o644)
	writeExe(t, pluginDir, ExecutablePrefix, 0o755) // no name
	writeExe(t, pluginDir, "other-tool", 0o755)
	if err := os.Mkdir(filepath.Join(pluginDir, ExecutablePrefix+"dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	places := searchDirs(pluginDir, fakeExecutable(exeDir), pathDir+string(os.PathListSeparator)+filepath.Join(pathDir, "missing"))
	got, err := discoverAll(pluginDir, places)
	if err != nil {
		t.Fatal(err)
	}
	want := []DiscoveredPlugin{{"a", a}, {"b", b}, {"c", c}}
	if !slices.Equal(got, want) {
		t.Fatalf("discoverAll = %+v, want %+v", got, want)
	}
	missing := filepath.Join(pluginDir, "missing")
	if _, err := DiscoverAll(missing); err == nil || !strings.Contains(err.Error(), "plugin dir") {
		t.Fatalf("DiscoverAll with a missing plugin dir = %v, want an error", err)
	}
}
