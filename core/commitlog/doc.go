// Package commitlog is the broker's log storage: the record batch codec
// (Kafka magic v2) and, per partition, a directory of segment files with
// offset and time indexes.
//
// # Usage
//
//	l, err := commitlog.Open(ctx, dir, commitlog.DefaultConfig(), commitlog.Options{Logger: logger})
//	defer l.Close()
//
//	// Produce: validate, (check producer state), append.
//	v := commitlog.Validator{MaxBatchBytes: maxMessageBytes, ClientOrigin: true}
//	info, err := v.ValidateBatch(records) // ErrCorruptBatch / ErrInvalidRecord / ErrBatchTooLarge
//	res, err := l.Append(records, commitlog.AppendOptions{LeaderEpoch: epoch})
//
//	// Fetch: wait for data past offset, then read whole batches.
//	ch := l.Changed()
//	if l.LogEndOffset() <= offset {
//		select { case <-ch: case <-ctx.Done(): }
//	}
//	r, err := l.Read(buf[:0], offset, partitionMaxBytes, highWatermark)
//	// or, without the copy: s, err := l.ReadSlice(...); s.WriteTo(conn); s.Close()
//
//	// ListOffsets, OffsetForLeaderEpoch, DeleteRecords, retention:
//	l.OffsetForTimestamp(ts); l.MaxTimestamp(); l.EndOffsetForEpoch(epoch)
//	l.DeleteRecordsBefore(offset); l.EnforceRetention(highWatermark)
//
//	// Compacted topics: refuse keyless records at produce, compact
//	// periodically (a pass runs only when due).
//	err = commitlog.RequireRecordKeys(records) // ErrNullKey (INVALID_RECORD)
//	st, err := l.Compact(ctx, commitlog.CompactOptions{HighWatermark: hw, MinCleanableDirtyRatio: 0.5, ...})
//
// The high watermark, producer state and replication belong to the
// partition layer; this package stores what it is given.
//
// # Directory
//
//	00000000000000000000.log         segment: batches as stored (base offset 0)
//	00000000000000000000.index       sparse offset index of that segment
//	00000000000000000000.timeindex   sparse time index of that segment
//	00000000000000004711.log ...     next segment, base offset 4711
//	commitlog.checkpoint             log start offset, recovery point, clean flag
//	leader-epoch.checkpoint          leader epoch -> start offset
//	cleaner.checkpoint               compaction: first dirty offset, cleaned end,
//	                                 delete horizon (only in compacted logs)
//	00000000000000000000.log.cleaned compaction output being written (+ .index.cleaned,
//	                                 .timeindex.cleaned); removed by Open
//	00000000000000000000.log.swap    compaction output committed, not yet renamed
//	                                 over the .log; Open finishes the swap
//	.lock                            flock'ed while a Log has the directory open
//
// Segment files are named by their base offset as %020d. Deleted segments
// are renamed to *.deleted first (readers may still hold them open) and
// removed when the last reference goes; Open removes leftovers, and *.tmp
// files of interrupted checkpoint writes.
//
// # Segment (.log)
//
// A segment is record batches back to back, each exactly as produced except
// for the fields the broker assigns; offsets continue from one batch to
// the next and from one segment to the next. Integers are big endian.
//
//	offset  size  field
//	     0     8  base offset                       assigned by Append
//	     8     4  batch length (bytes after this field)
//	    12     4  partition leader epoch            assigned by Append
//	    16     1  magic = 2
//	    17     4  CRC-32C of bytes 21 .. end        recomputed if timestamps change
//	    21     2  attributes: bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4,
//	              4 zstd), bit 3 LogAppendTime, bit 4 transactional,
//	              bit 5 control, bit 6 delete horizon
//	    23     4  last offset delta (= record count - 1, except in
//	              compacted batches: record count <= last offset delta + 1)
//	    27     8  base timestamp
//	    35     8  max timestamp                     the append time with LogAppendTime
//	    43     8  producer id (-1 without idempotence)
//	    51     2  producer epoch
//	    53     4  base sequence
//	    57     4  record count
//	    61     -  records; compressed as a whole when the codec is not 0
//
// Each record (after decompression) is:
//
//	length varint | attributes int8 | timestamp delta varlong |
//	offset delta varint | key length varint (-1 null) | key |
//	value length varint (-1 null) | value | header count varint |
//	headers: key length varint | key | value length varint (-1 null) | value
//
// # Offset index (.index)
//
// One 8-byte entry after at least IndexIntervalBytes of batches, sorted:
//
//	offset  size  field
//	     0     4  base offset of a batch - segment base offset (uint32)
//	     4     4  byte position of that batch in the .log (uint32)
//
// # Time index (.timeindex)
//
// One 12-byte entry at an offset index point when the segment's max
// timestamp grew, plus a final one when the segment is sealed; timestamps
// strictly increase:
//
//	offset  size  field
//	     0     8  max timestamp of the segment so far (ms)
//	     8     4  base offset of the first batch with that timestamp -
//	              segment base offset (uint32)
//
// # commitlog.checkpoint (32 bytes)
//
//	offset  size  field
//	     0     4  magic "CLCP"
//	     4     2  version = 1
//	     6     2  flags: bit 0 clean shutdown
//	     8     8  log start offset
//	    16     8  recovery point: segments below it were fsynced after their
//	              last write
//	    24     4  reserved = 0
//	    28     4  CRC-32C of bytes 0..27
//
// # leader-epoch.checkpoint (16 + 12n bytes)
//
//	offset  size  field
//	     0     4  magic "CLEP"
//	     4     2  version = 1
//	     6     2  reserved = 0
//	     8     4  entry count n
//	    12   12n  entries: epoch int32, start offset int64 (both increasing)
//	12+12n     4  CRC-32C of everything before
//
// Checkpoints are replaced atomically (write *.tmp, fsync, rename, fsync
// the directory).
//
// # cleaner.checkpoint (36 bytes)
//
//	offset  size  field
//	     0     4  magic "CLCC"
//	     4     2  version = 1
//	     6     2  reserved = 0
//	     8     8  first dirty offset (segments below were cleaned)
//	    16     8  cleaned end: segments with a smaller base offset may hold
//	              offset gaps between batches (compacted or replicated
//	              compacted data); elsewhere Open refuses gaps as damage
//	    24     8  earliest delete horizon of a batch with tombstones, -1 none
//	    32     4  CRC-32C of bytes 0..31
//
// # Compaction
//
// Compact (compact.go) keeps the latest record of each key in closed
// segments below the high watermark, like Kafka's log cleaner: offsets and
// the log end offset never change (batches keep their base offset and
// last offset delta; a batch that loses every record goes, except the last
// of each segment and of each producer id, kept empty), tombstones stay
// until delete.retention.ms after the pass that first kept them (the
// batch's delete horizon, attribute bit 6, base timestamp = horizon, the
// record timestamps unchanged), keyless records are dropped, compressed
// batches are recompressed with their codec. Consecutive segments that fit
// in segment.bytes are merged. Each rewritten segment is written to
// *.cleaned, fsynced, renamed to .swap (the commit point) and renamed over
// the old files under the writer lock; readers holding an old segment keep
// its open files. A pass runs when the dirty share of the
// cleanable bytes exceeds min.cleanable.dirty.ratio (cleaner.checkpoint
// keeps the first dirty offset), when max.compaction.lag.ms or a delete
// horizon passed, or when forced.
//
// # Writing
//
// Append, AppendReplicated, Truncate, Reset, DeleteRecordsBefore,
// EnforceRetention and SetConfig are serialized by the log's writer lock.
// An append is one pwrite of all its batches into the active segment, which
// is rolled first when the append would take it past SegmentBytes, when
// the incoming max timestamp is SegmentMs past its first batch's (or it is
// that old by the wall clock when it has no timestamps), or when offsets
// would no longer fit the index's relative offsets. Index entries of the
// active segment are kept in memory and written to the files in groups; a
// rolled segment is sealed (indexes flushed, final time index entry) and
// fsynced by the log's background goroutine, which then moves the recovery
// point past it.
//
// Flush policy: FlushNone leaves writeback to the OS (an acknowledged
// append survives a process crash; a power loss needs replication);
// FlushAlways runs fdatasync before Append returns, outside the writer lock
// so that concurrent appends share one (group commit); FlushInterval syncs
// the active segment every FlushInterval. Close syncs everything and marks
// a clean shutdown.
//
// # Reading
//
// Readers never take the writer lock. They use an immutable snapshot of the
// segment list, hold a reference on the segment they read (retention may
// delete it meanwhile; its files stay open until the last reference goes),
// and never read past the segment's committed size, which the writer
// publishes after the bytes are written: a reader never sees a half-written
// batch. A read that races with Truncate is detected (a per-segment
// truncation generation) and retried. Read returns whole batches from one
// segment, the first always, even when larger than maxBytes; a small cache
// of where recent reads ended lets a consumer continue without an index
// lookup. Changed returns a channel closed by the next append, for Fetch
// long-polling.
//
// # Recovery
//
// Open first finishes committed compaction swaps (*.log.swap replaces the
// .log, whose indexes are rebuilt) and removes uncommitted *.cleaned
// files. It then scans whole every segment at or after the recovery point after an
// unclean shutdown (always the last one), and checks only segment tails
// (from the last index entry) after a clean one; a segment whose index is
// missing or disagrees with the log is scanned whole and its indexes
// rebuilt. Base offsets must continue each other (in segments below the
// cleaned end of cleaner.checkpoint they may leave gaps, never go back).
// Damage at the end of the log — a partial batch, a bad header,
// length, base offset or CRC, zeros — is a torn write and is truncated
// away; no valid batch before it is dropped. Damage followed by valid data
// (a valid batch that continues the log later in the segment, a later
// segment with batches, segments that do not continue each other) is
// refused with ErrCorruptLog and nothing is modified, since repairing would
// silently drop valid data; Options.TruncateOnCorruption forces the repair
// for a replica that can refetch from its leader.
package commitlog
