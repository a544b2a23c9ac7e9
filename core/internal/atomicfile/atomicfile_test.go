package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"first", "second, longer", "3"} {
		if err := Write(dir, "f", []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "f"))
		if err != nil || string(got) != content {
			t.Fatalf("after Write(%q): %q, %v", content, got, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "f"+TmpSuffix)); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
}

func TestWriteFailureLeavesOldContent(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, "f", []byte("old")); err != nil {
		t.Fatal(err)
	}
	// A directory where the temporary file goes makes the write fail.
	if err := os.Mkdir(filepath.Join(dir, "f"+TmpSuffix), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, "f", []byte("new")); err == nil {
		t.Fatal("Write succeeded over a directory in the temporary file's place")
	}
	got, err := os.ReadFile(filepath.Join(dir, "f"))
	if err != nil || string(got) != "old" {
		t.Fatalf("after a failed Write: %q, %v; want the old content", got, err)
	}
	if err := Write(filepath.Join(dir, "missing"), "f", nil); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
}
