// Package atomicfile writes small files so that a crash leaves either the
// old content or the new one, never a mix: the checkpoints of
// core/commitlog and the partition files of core/partition.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// TmpSuffix is appended to a file's name while it is being written; a file
// with it left after a crash is garbage and may be removed.
const TmpSuffix = ".tmp"

// Write replaces dir/name with data: it writes name+TmpSuffix, fsyncs it,
// renames it over name and fsyncs dir. On error the temporary file is
// removed and dir/name is left as it was.
func Write(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+TmpSuffix)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err == nil {
		err = SyncDir(dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// SyncDir fsyncs a directory so that creations, renames and removals in it
// are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
