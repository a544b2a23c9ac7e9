// Package etcdmeta implements the chronik metadata contract
// (package metadata) on an existing etcd cluster (v3.5 or later), with
// go.etcd.io/etcd/client/v3.
//
// Every chronik node runs one Backend (in plugin mode: one plugin process,
// built by Factory). The Backends of one chronik cluster share the etcd
// endpoints and a key prefix; etcd is the quorum, orders every change and
// replicates it. Config.Peers and DataDir are not used.
//
//	b, err := etcdmeta.New(ctx, etcdmeta.Config{
//		NodeID:    "1",
//		Endpoints: []string{"h1:2379", "h2:2379", "h3:2379"},
//	})
//	defer b.Close()
//	st, err := b.Snapshot(ctx)           // the whole state at st.Revision
//	ch, err := b.Watch(ctx, st.Revision) // every change after it
//
// # Revisions
//
// A metadata.Revision is an etcd revision: a change is one etcd transaction
// and its revision is the transaction's header revision. Watch delivers one
// batch per etcd revision that changes contract state; revisions that only
// touch session keys, or another prefix, are skipped, so revisions are
// increasing but not contiguous. Every changing transaction also writes
// the key P changed, so a Snapshot (a linearizable range read at etcd
// revision H) reports the revision of the last change at H, not H: every
// revision a caller sees is one a watch delivers. Compaction (Compact, or
// etcd's --auto-compaction-*) makes older resume points fail with
// metadata.ErrCompacted; etcd's history is shared by every prefix, so
// compacting is cluster-wide.
//
// # Key layout
//
// Under the prefix P (setting etcd.prefix, default "/chronik/"; one chronik
// cluster per prefix, prefixes must not nest), all values JSON:
//
//	key                        value                               lease    written by
//	P brokers/<id>             {"id","incarnation","listeners",    -        RegisterBroker, fencer,
//	                            "rack","epoch","fenced"}                    UnregisterBroker (delete)
//	P sessions/<id>            "" (empty)                          session  RegisterBroker, Heartbeat
//	                                                                        (re-attach), lease expiry
//	P topics/<t>               {"name","id","configs",             -        CreateTopic, DeleteTopic
//	                            "partitions","chunkSize"}
//	P partitions/<t>/<first>   {"changed","p":[{"r","l","le",      -        CreateTopic, AlterPartition,
//	                            "i","pe"}, ...]}                            DeleteTopic
//	P producer-ids             next free producer id, decimal      -        AllocateProducerIDs
//	P changed                  "" (its mod revision is the last    -        every changing
//	                            change's revision)                          transaction
//	P cluster-id               the cluster id, 22 characters       -        the first Snapshot
//	                            (Kafka's format), never rewritten           of any node (create
//	                                                                        if absent)
//
// <id> is the broker id as 10 decimal digits, <t> the topic name
// path-escaped (url.PathEscape), <first> the first partition of the key as
// 10 decimal digits. The fields of a partition are replicas, leader, leader
// epoch, ISR and partition epoch.
//
// The cluster id (metadata.State.ClusterID) is created by the first
// Snapshot any node of the prefix answers, with one transaction that puts
// a new id if the key has no create revision and reads the key otherwise,
// so that racing nodes agree on the first id written; afterwards every
// Snapshot reads it with the rest. Writing it is not a change of the
// contract state: it does not touch P changed and no watch event maps it.
// A prefix written before cluster ids gets one the same way.
//
// A broker's epoch is the revision of its registration. The registration
// cannot know it before committing, so it writes "epoch" as 0 and readers
// take the record's mod revision; the fencer, the only other writer of the
// record, writes the epoch out. A topic's CreatedAt is its record's create
// revision.
//
// # Topics and etcd's transaction limits
//
// A topic is created in ONE transaction guarded by the absence of its
// record: the record, the changed key and its partition keys. etcd limits
// a transaction to --max-txn-ops operations (default 128) and a request to
// --max-request-bytes (default 1.5 MiB). A topic of up to max-txn-ops - 2
// partitions (126) gets one key per partition. A larger topic groups its
// partitions into chunks of ceil(n / (max-txn-ops - 2)) consecutive
// partitions per key, so that everything still fits one transaction: 5000
// partitions are 125 keys of 40 partitions (127 operations). Each
// partition costs about 45 bytes, so with the default request limit a
// topic of about 30000 partitions (3 replicas) is the largest one etcd
// accepts; beyond, CreateTopic fails with metadata.ErrInvalid naming the
// limit (raise etcd's --max-request-bytes and the setting
// etcd.max-request-bytes together). The watch sees the creation as one
// revision and delivers one TopicCreated. DeleteTopic is one transaction
// too (the record and a range delete of its partition keys).
//
// AlterPartition reads the key holding the partition, checks the
// partition epoch, and writes the key back comparing its mod revision; the
// key's "changed" field names the partition the write changed, so that
// watchers emit one PartitionChanged without a previous value. With a key
// per partition the compare is exactly the partition's mod revision; in a
// chunk, a concurrent change of a neighbour makes the compare fail and the
// call re-reads and retries (the partition-epoch check stays exact).
//
// The topic updates of metadata.TopicUpdater (AddPartitions,
// SetTopicConfigs) read the record and every partition key and rewrite
// them all in one transaction that compares the record's mod revision and
// that no partition key changed since the read (a concurrent change makes
// it re-read; AddPartitions' expected count and SetTopicConfigs' expected
// configs are checked on each read, so both are compare-and-sets). The
// watch tells an update from a creation by the record's version (a later
// one is TopicUpdated) and, as all partition keys are in the same
// revision, delivers the whole topic. A topic grown past a key per
// partition is regrouped into larger chunks in that transaction, the old
// keys between the new ones deleted by range.
//
// # Brokers, sessions and fencing
//
// A broker's session is its record plus a session key attached to an etcd
// lease whose TTL is the session timeout rounded up to whole seconds.
// Heartbeat is one keepalive of that lease (sent on a keepalive stream the
// backend keeps open, see renew.go), after a linearizable read of the
// record that answers ErrStaleEpoch and ErrFenced. When the lease expires
// etcd deletes the session key; every node's fencer then races to commit
// the fence (the record rewritten with "fenced": true), one broker per
// transaction, with compares that let exactly one commit. Until the fence
// commits, a heartbeat (or a registration of the same incarnation) of the
// expired session attaches a new lease and keeps the epoch, as a late
// heartbeat does with any backend before the fence. After an etcd leader
// change the fencers hold off for a session timeout plus one call attempt
// (see fencer.go for why: etcd issue 15247). See brokers.go for the
// session invariants.
//
// # Settings
//
// In plugin mode the backend is configured by metadata.Config.Settings;
// see ConfigFromMetadata and the Setting constants: etcd.endpoints
// (required), etcd.prefix, etcd.dial-timeout, etcd.request-timeout,
// etcd.ca-file, etcd.cert-file, etcd.key-file, etcd.username,
// etcd.password, etcd.max-txn-ops, etcd.max-request-bytes.
//
// # Unavailability
//
// With etcd unreachable or without quorum, every call fails with
// metadata.ErrUnavailable by its deadline or etcd.request-timeout, the
// error naming the endpoints. Nothing crashes: the client reconnects,
// watches resume where they were, the fencer retries. A watch uses
// clientv3.WithRequireLeader, so a member cut off from its quorum does not
// serve a stale stream; the watch moves to another endpoint.
package etcdmeta
