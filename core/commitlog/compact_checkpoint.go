package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
)

// cleaner.checkpoint (36 bytes), the compaction bookkeeping of a log,
// replaced atomically like the other checkpoints (writeFileAtomic). It
// exists only in a log that was compacted (or replicated compacted data).
//
//	offset  size  field
//	     0     4  magic "CLCC"
//	     4     2  version = 1
//	     6     2  reserved = 0
//	     8     8  first dirty offset: the last pass cleaned every segment
//	              below it; compaction counts what follows as dirty
//	    16     8  cleaned end: segments with a smaller base offset may have
//	              been rewritten by compaction (offset gaps between batches
//	              are valid there); never lowered except by Reset/Truncate
//	    24     8  delete horizon: the earliest delete horizon of a batch
//	              holding tombstones below the first dirty offset, -1 none
//	    32     4  CRC-32C of bytes 0..31
const (
	cleanerCheckpointFile    = "cleaner.checkpoint"
	cleanerCheckpointSize    = 36
	cleanerCheckpointVersion = 1
)

var cleanerMagic = [4]byte{'C', 'L', 'C', 'C'}

// cleanerCheckpoint is the content of cleaner.checkpoint.
type cleanerCheckpoint struct {
	firstDirty int64
	cleanedEnd int64
	horizon    int64
}

// noCleaner is the state of a log never compacted.
var noCleaner = cleanerCheckpoint{horizon: -1}

func (c cleanerCheckpoint) encode() []byte {
	b := make([]byte, 0, cleanerCheckpointSize)
	b = append(b, cleanerMagic[:]...)
	b = binary.BigEndian.AppendUint16(b, cleanerCheckpointVersion)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(c.firstDirty))
	b = binary.BigEndian.AppendUint64(b, uint64(c.cleanedEnd))
	b = binary.BigEndian.AppendUint64(b, uint64(c.horizon))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeCleanerCheckpoint(b []byte) (cleanerCheckpoint, error) {
	if len(b) != cleanerCheckpointSize || [4]byte(b[:4]) != cleanerMagic ||
		binary.BigEndian.Uint16(b[4:]) != cleanerCheckpointVersion ||
		binary.BigEndian.Uint32(b[32:]) != crc32.Checksum(b[:32], castagnoli) {
		return cleanerCheckpoint{}, errBadFile
	}
	c := cleanerCheckpoint{
		firstDirty: int64(binary.BigEndian.Uint64(b[8:])),
		cleanedEnd: int64(binary.BigEndian.Uint64(b[16:])),
		horizon:    int64(binary.BigEndian.Uint64(b[24:])),
	}
	if c.firstDirty < 0 || c.cleanedEnd < 0 || c.horizon < -1 {
		return cleanerCheckpoint{}, errBadFile
	}
	return c, nil
}

// readCleanerCheckpoint loads cleaner.checkpoint; a missing file is a log
// never compacted. A damaged one is replaced by a state that allows offset
// gaps in every segment (Open cannot tell which segments compaction
// rewrote) and counts the whole log as dirty; damaged reports it.
func readCleanerCheckpoint(dir string) (c cleanerCheckpoint, exists, damaged bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, cleanerCheckpointFile))
	if errors.Is(err, fs.ErrNotExist) {
		return noCleaner, false, false, nil
	}
	if err != nil {
		return noCleaner, false, false, fmt.Errorf("commitlog: reading %s: %w", cleanerCheckpointFile, err)
	}
	c, err = decodeCleanerCheckpoint(b)
	if err != nil {
		return cleanerCheckpoint{firstDirty: 0, cleanedEnd: 1<<63 - 1, horizon: -1}, true, true, nil
	}
	return c, true, false, nil
}

// setCleaner installs and persists a new cleaner state (cleanMu held).
// Nothing is written when it did not change.
func (l *Log) setCleanerLocked(c cleanerCheckpoint) error {
	if c == l.cleaner && l.cleanerOnDisk {
		return nil
	}
	if err := writeFileAtomic(l.dir, cleanerCheckpointFile, c.encode()); err != nil {
		return err
	}
	l.cleaner, l.cleanerOnDisk = c, true
	return nil
}

// noteTruncation lowers the cleaner state to a log that now ends at end
// (Truncate) or restarts there (Reset, fresh): offsets at or after end
// are dirty again. It bumps the cleaner generation, so that a pass running
// meanwhile does not record stale progress. Writer lock held.
func (l *Log) noteTruncation(end int64, fresh bool) error {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.cleanerGen++
	if !l.cleanerOnDisk {
		return nil
	}
	c := l.cleaner
	if fresh {
		c = cleanerCheckpoint{firstDirty: end, cleanedEnd: 0, horizon: -1}
	} else {
		c.firstDirty = min(c.firstDirty, end)
	}
	return l.setCleanerLocked(c)
}

// allowGapsBelow records that segments with base offsets below end may
// hold offset gaps (compacted data), before such data is written.
// cleanMu must not be held.
func (l *Log) allowGapsBelow(end int64) error {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	if l.cleanerOnDisk && l.cleaner.cleanedEnd >= end {
		return nil
	}
	c := l.cleaner
	c.cleanedEnd = max(c.cleanedEnd, end)
	return l.setCleanerLocked(c)
}
