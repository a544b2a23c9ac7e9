// Package partition hosts this broker's partition replicas: for each, its
// log (core/commitlog), its role from the cluster metadata image (leader
// at a leader epoch, or follower), the high watermark, and the idempotent
// producer state. The Kafka handlers of the data path (Produce, Fetch,
// ListOffsets, DeleteRecords, OffsetForLeaderEpoch, InitProducerId,
// DescribeLogDirs) call into it; it never goes through the metadata
// backend on the data path (producer id blocks excepted).
//
// # Usage
//
//	m, err := partition.New(cfg, clusterMembership, backend, logger)
//	m.Start()        // follows the image; opens, reconfigures, deletes replicas
//	defer m.Close()
//
//	p, ok := m.Partition("orders", 0)        // !ok: not hosted (NOT_LEADER_OR_FOLLOWER)
//	res, err := p.Append(batch, acks)        // validate, producer checks, append
//	err = p.WaitAcked(ctx, res)              // acks=-1: until the high watermark passes it
//	fr, err := p.Fetch(buf[:0], partition.FetchParams{Offset: off, MaxBytes: 1 << 20, ...})
//
//	w := partition.NewWaiter()               // long-polling over several partitions
//	w.Watch(p); defer w.Stop()
//	<-w.C()
//
// Errors are this package's sentinels (ErrNotLeader, ErrOutOfOrderSequence,
// ...) or commitlog's, wrapped; the protocol layer maps them to Kafka codes.
//
// # Directory
//
// Under Config.DataDir, one directory per hosted partition:
//
//	orders-0/                       topic "orders", partition 0
//	  00000000000000000000.log ...  the log (see core/commitlog)
//	  partition.metadata            topic name, partition and topic id
//	  high-watermark.checkpoint     the high watermark, periodically and at Close
//	  producer-state.snapshot       idempotent producer state, written by Close
//	orders-0.1f2e3d4c5b6a7988-delete/  a partition being deleted (removed at start)
//
// partition.metadata is text, written once before the log is created:
//
//	version: 1
//	topic: orders
//	partition: 0
//	topic_id: 5c3c0d6e1bb24a1c9f6a0b1c2d3e4f50   (32 hex digits)
//
// A directory whose topic id differs from the topic of that name in the
// metadata belongs to a deleted incarnation of the topic and is deleted
// before the partition is opened.
//
// high-watermark.checkpoint (20 bytes; big endian):
//
//	offset  size  field
//	     0     4  magic "CPHW"
//	     4     2  version = 1
//	     6     2  reserved = 0
//	     8     8  high watermark
//	    16     4  CRC-32C of bytes 0..15
//
// producer-state.snapshot (big endian), written at Close and removed when
// read at the next open (after a crash there is none, and the state is
// rebuilt from every batch header of the log):
//
//	offset  size  field
//	     0     4  magic "CPPS"
//	     4     2  version = 1
//	     6     2  reserved = 0
//	     8     8  log end offset the state describes
//	    16     4  producer count n
//	    20     -  n producers:
//	                producer id int64, epoch int16, batch count k uint8 (1-5),
//	                k batches, oldest first: first sequence int32,
//	                last sequence int32, first offset int64, last offset int64,
//	                max timestamp int64
//	   end     4  CRC-32C of everything before
//
// Files are replaced atomically (write *.tmp, fsync, rename, fsync the
// directory); commitlog.Open removes *.tmp leftovers.
//
// # Replication
//
// The high watermark is the minimum over the ISR of the replicas' log end
// offsets (RecordFollowerFetch feeds followers' from their Fetch
// requests), acks=all waits for it and min.insync.replicas is enforced
// against the ISR. A follower replica refuses Produce and consumer Fetch
// with ErrNotLeader; package replica fetches from the leader and feeds it
// through AppendAsFollower, truncates it (TruncateAsFollower, which drops
// and rebuilds the producer state above the point), and, as leader, reads
// LeaderState to change the ISR through the backend's AlterPartition.
package partition
