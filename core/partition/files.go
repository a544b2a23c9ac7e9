package partition

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/chronik-go/chronik/core/internal/atomicfile"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Files of a partition directory beside the log's own (see doc.go for
// their formats).
const (
	metaFile     = "partition.metadata"
	hwFile       = "high-watermark.checkpoint"
	snapshotFile = "producer-state.snapshot"
	// tmpSuffix marks an atomic write in progress; commitlog.Open removes
	// leftovers with this suffix.
	tmpSuffix = atomicfile.TmpSuffix
	// deleteSuffix marks a partition directory being deleted.
	deleteSuffix = "-delete"
)

// dirName is the directory of a partition under the data directory:
// <topic>-<partition>, as Kafka names it.
func dirName(topic string, partition int32) string {
	return topic + "-" + strconv.FormatInt(int64(partition), 10)
}

// parseDirName splits <topic>-<partition>; ok is false for other names.
func parseDirName(name string) (topic string, partition int32, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != name[i+1:] {
		return "", 0, false
	}
	return name[:i], int32(n), true
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// writeFileAtomic replaces dir/name with data (atomicfile.Write).
func writeFileAtomic(dir, name string, data []byte) error {
	if err := atomicfile.Write(dir, name, data); err != nil {
		return fmt.Errorf("partition: %w", err)
	}
	return nil
}

// partitionMeta is the content of partition.metadata.
type partitionMeta struct {
	Topic     string
	Partition int32
	TopicID   metadata.TopicID
}

func (m partitionMeta) encode() []byte {
	return fmt.Appendf(nil, "version: 1\ntopic: %s\npartition: %d\ntopic_id: %s\n",
		m.Topic, m.Partition, hex.EncodeToString(m.TopicID[:]))
}

func decodeMeta(b []byte) (partitionMeta, error) {
	var m partitionMeta
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return m, fmt.Errorf("partition: %s: malformed line %q", metaFile, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		seen[k] = true
		switch k {
		case "version":
			if v != "1" {
				return m, fmt.Errorf("partition: %s: unknown version %q", metaFile, v)
			}
		case "topic":
			m.Topic = v
		case "partition":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return m, fmt.Errorf("partition: %s: bad partition %q", metaFile, v)
			}
			m.Partition = int32(n)
		case "topic_id":
			id, err := hex.DecodeString(v)
			if err != nil || len(id) != len(m.TopicID) {
				return m, fmt.Errorf("partition: %s: bad topic id %q", metaFile, v)
			}
			copy(m.TopicID[:], id)
		}
	}
	for _, k := range []string{"version", "topic", "partition", "topic_id"} {
		if !seen[k] {
			return m, fmt.Errorf("partition: %s: missing %s", metaFile, k)
		}
	}
	return m, nil
}

// readMeta reads dir's partition.metadata; ok is false when there is none.
func readMeta(dir string) (partitionMeta, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return partitionMeta{}, false, nil
	}
	if err != nil {
		return partitionMeta{}, false, fmt.Errorf("partition: reading %s: %w", metaFile, err)
	}
	m, err := decodeMeta(b)
	return m, err == nil, err
}

// High watermark checkpoint: 20 bytes.
const (
	hwMagic   = "CPHW"
	hwVersion = 1
	hwSize    = 20
)

func encodeHW(hw int64) []byte {
	b := make([]byte, hwSize)
	copy(b, hwMagic)
	binary.BigEndian.PutUint16(b[4:], hwVersion)
	binary.BigEndian.PutUint64(b[8:], uint64(hw))
	binary.BigEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	return b
}

func decodeHW(b []byte) (int64, error) {
	if len(b) != hwSize || string(b[:4]) != hwMagic || binary.BigEndian.Uint16(b[4:]) != hwVersion ||
		binary.BigEndian.Uint32(b[16:]) != crc32.Checksum(b[:16], castagnoli) {
		return 0, fmt.Errorf("partition: %s is damaged", hwFile)
	}
	return int64(binary.BigEndian.Uint64(b[8:])), nil
}

// readHW reads the high watermark checkpoint; ok is false when there is
// none or it is damaged (the caller starts from the log start offset).
func readHW(dir string) (int64, bool) {
	b, err := os.ReadFile(filepath.Join(dir, hwFile))
	if err != nil {
		return 0, false
	}
	hw, err := decodeHW(b)
	return hw, err == nil
}

// removeDir deletes a partition directory: renamed first to
// <name>.<random>-delete (atomic: a crash leaves either the whole directory
// or one that startup removes), then removed.
func removeDir(dataDir, dir string) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	doomed := filepath.Join(dataDir, filepath.Base(dir)+"."+hex.EncodeToString(rnd[:])+deleteSuffix)
	if err := os.Rename(dir, doomed); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("partition: deleting %s: %w", dir, err)
	}
	if err := atomicfile.SyncDir(dataDir); err != nil {
		return fmt.Errorf("partition: deleting %s: %w", dir, err)
	}
	if err := os.RemoveAll(doomed); err != nil {
		return fmt.Errorf("partition: deleting %s: %w", dir, err)
	}
	return nil
}
