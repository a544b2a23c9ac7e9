// Package replica is a broker's data replication (Kafka's, as DESIGN.md
// section 5 describes): followers fetch from their leaders, leaders manage
// their ISR, and a live in-sync replica takes over a partition whose
// leader is fenced. Partition state (leader, leader epoch, ISR, partition
// epoch) changes only through the metadata backend's AlterPartition
// (cluster.Cluster.AlterPartition, a compare-and-set on the partition
// epoch); produced data never goes through the backend.
//
// # Usage
//
//	m, err := replica.New(replica.DefaultConfig(), clusterMembership, partitionManager, logger)
//	m.Start()        // follows the image; fetchers, ISR checks, elections
//	defer m.Close()  // before the partition Manager closes
//
// # Follower
//
// For every hosted partition whose replica is a follower (partition.
// FollowerState: the image names another live broker leader), a fetcher
// for that leader broker fetches with Fetch v12 (replica id = this broker,
// current leader epoch, last fetched epoch, max wait Config.MaxWait), one
// connection per leader broker, all its partitions in one request. The
// answer's batches are appended verbatim (partition.AppendAsFollower:
// commitlog AppendReplicated, leader epoch checkpoint, producer state, the
// follower's high watermark). On a new leader epoch the follower first asks
// the leader OffsetForLeaderEpoch (v4) where its last epoch ends and
// truncates there (KIP-101/279; partition.TruncateAsFollower); a Fetch
// answer with a DivergingEpoch truncates the same way. OFFSET_OUT_OF_RANGE
// restarts the log at the leader's log start (ListOffsets with the replica
// id) or truncates it to the leader's end.
//
// # Leader
//
// Every Config.ISRCheckInterval a leader samples its followers' log end
// offsets (their fetch offsets, partition.LeaderState): a follower that is
// fenced, or has not been caught up with the leader's log end offset for
// Config.LagTimeMax (replica.lag.time.max.ms), leaves the ISR; a live
// follower out of it that reached the high watermark and the start of the
// leader's epoch joins it. The change is an AlterPartition from the
// partition epoch the replica applied; a stale one is dropped and decided
// again from the next image. The partition learns the new ISR from the
// image, and its high watermark (minimum over the ISR) only moves forward.
//
// # Failover
//
// When the image shows a partition's leader fenced or gone, the first
// replica in assignment order that is live and in the ISR makes itself
// leader with AlterPartition (leader epoch + 1, ISR = its live members).
// With no live ISR member the partition stays offline (clients get
// LEADER_NOT_AVAILABLE) unless the topic sets
// unclean.leader.election.enable=true, when the first live replica takes
// over alone.
//
// # Preferred leaders
//
// The first replica of a partition's assignment is its preferred leader.
// With Config.AutoLeaderRebalanceEnable (Kafka's
// auto.leader.rebalance.enable), every LeaderImbalanceCheckInterval a
// broker looks at the partitions it is the preferred replica of: when it
// is live and in the ISR but another broker leads, and the share of its
// preferred partitions led elsewhere exceeds
// LeaderImbalancePerBrokerPercentage, it takes them back with
// AlterPartition (leader epoch + 1, ISR unchanged). Only the preferred
// replica acts for a partition and the compare-and-set settles races.
// The ElectLeaders API (cluster.Cluster.ElectLeaders) does the same on
// request, and unclean elections too.
//
// # Controlled shutdown
//
// Before a broker closes (core/broker's Close, while its Kafka listener
// still serves), Manager.ControlledShutdown moves the leadership of every
// partition it leads whose ISR has another live member to the first such
// replica in assignment order that has fetched up to the high watermark,
// with AlterPartition (leader epoch + 1, ISR without this broker), takes
// this broker out of the ISR of the partitions it follows, and waits until
// its replicas applied that: clients get NOT_LEADER_OR_FOLLOWER and
// refresh their metadata instead of finding the partition without a leader
// until the others notice the broker is gone, and acks=all producers are
// not held up by a follower that is gone. Partitions without another live
// in-sync replica stay. It is bounded by Config.ControlledShutdownTimeout
// (zero disables it).
package replica
