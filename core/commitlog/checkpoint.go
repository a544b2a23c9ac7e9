package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/chronik-go/chronik/core/internal/atomicfile"
)

// Checkpoint files, each rewritten whole through a temporary file, fsync and
// rename, so a reader sees the old or the new version, never a mix. Both end
// with a CRC-32C (Castagnoli) of every byte before it; big endian.
//
//	commitlog.checkpoint (32 bytes)
//	  offset  size  field
//	       0     4  magic "CLCP"
//	       4     2  version (1)
//	       6     2  flags: bit 0 = clean shutdown (written by Close)
//	       8     8  log start offset
//	      16     8  recovery point: every segment with a smaller base offset
//	                was fsynced after its last write
//	      24     4  reserved (0)
//	      28     4  CRC-32C of bytes 0..27
//
//	leader-epoch.checkpoint (16 + 12n bytes)
//	  offset  size  field
//	       0     4  magic "CLEP"
//	       4     2  version (1)
//	       6     2  reserved (0)
//	       8     4  entry count n
//	      12   12n  entries: leader epoch (int32), start offset (int64),
//	                epochs and start offsets strictly increasing
//	  12+12n     4  CRC-32C of bytes 0..12+12n-1
const (
	checkpointFile      = "commitlog.checkpoint"
	epochCheckpointFile = "leader-epoch.checkpoint"
	tmpSuffix           = atomicfile.TmpSuffix

	checkpointSize    = 32
	checkpointVersion = 1
	flagClean         = 1
)

var (
	checkpointMagic = [4]byte{'C', 'L', 'C', 'P'}
	epochMagic      = [4]byte{'C', 'L', 'E', 'P'}
	errBadFile      = errors.New("malformed checkpoint file")
)

// logCheckpoint is the content of commitlog.checkpoint.
type logCheckpoint struct {
	logStartOffset int64
	recoveryPoint  int64
	clean          bool
}

func (c logCheckpoint) encode() []byte {
	b := make([]byte, 0, checkpointSize)
	b = append(b, checkpointMagic[:]...)
	b = binary.BigEndian.AppendUint16(b, checkpointVersion)
	var flags uint16
	if c.clean {
		flags |= flagClean
	}
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(c.logStartOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(c.recoveryPoint))
	b = binary.BigEndian.AppendUint32(b, 0)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeLogCheckpoint(b []byte) (logCheckpoint, error) {
	if len(b) != checkpointSize || [4]byte(b[:4]) != checkpointMagic ||
		binary.BigEndian.Uint16(b[4:]) != checkpointVersion ||
		binary.BigEndian.Uint32(b[28:]) != crc32.Checksum(b[:28], castagnoli) {
		return logCheckpoint{}, errBadFile
	}
	c := logCheckpoint{
		clean:          binary.BigEndian.Uint16(b[6:])&flagClean != 0,
		logStartOffset: int64(binary.BigEndian.Uint64(b[8:])),
		recoveryPoint:  int64(binary.BigEndian.Uint64(b[16:])),
	}
	if c.logStartOffset < 0 || c.recoveryPoint < 0 {
		return logCheckpoint{}, errBadFile
	}
	return c, nil
}

// EpochEntry is one entry of the leader epoch checkpoint: the first offset
// written with a leader epoch.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

func encodeEpochs(entries []EpochEntry) []byte {
	b := make([]byte, 0, 16+12*len(entries))
	b = append(b, epochMagic[:]...)
	b = binary.BigEndian.AppendUint16(b, checkpointVersion)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = binary.BigEndian.AppendUint32(b, uint32(e.Epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.StartOffset))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeEpochs(b []byte) ([]EpochEntry, error) {
	if len(b) < 16 || [4]byte(b[:4]) != epochMagic || binary.BigEndian.Uint16(b[4:]) != checkpointVersion {
		return nil, errBadFile
	}
	n := binary.BigEndian.Uint32(b[8:])
	if uint64(len(b)) != 16+12*uint64(n) || binary.BigEndian.Uint32(b[len(b)-4:]) != crc32.Checksum(b[:len(b)-4], castagnoli) {
		return nil, errBadFile
	}
	entries := make([]EpochEntry, n)
	for i := range entries {
		p := 12 + 12*i
		entries[i] = EpochEntry{Epoch: int32(binary.BigEndian.Uint32(b[p:])), StartOffset: int64(binary.BigEndian.Uint64(b[p+4:]))}
		if entries[i].Epoch < 0 || entries[i].StartOffset < 0 ||
			(i > 0 && (entries[i].Epoch <= entries[i-1].Epoch || entries[i].StartOffset < entries[i-1].StartOffset)) {
			return nil, errBadFile
		}
	}
	return entries, nil
}

// writeFileAtomic replaces dir/name with data (atomicfile.Write).
func writeFileAtomic(dir, name string, data []byte) error {
	if err := atomicfile.Write(dir, name, data); err != nil {
		return fmt.Errorf("commitlog: %w", err)
	}
	return nil
}
