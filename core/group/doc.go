// Package group is the broker's group coordinator: Kafka's classic
// consumer group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup)
// and committed offsets (OffsetCommit, OffsetFetch, OffsetDelete), with
// group administration (DescribeGroups, ListGroups, DeleteGroups).
//
// # Placement
//
// Groups live in the internal topic __consumer_offsets, as in Kafka. The
// group with id G belongs to partition abs(javaHashCode(G)) mod N (N the
// topic's partition count, see PartitionFor), and the coordinator of G is
// the leader of that partition in the metadata image: every broker
// computes the same answer, and FindCoordinator names it. The topic is
// created through the metadata backend by the first FindCoordinator
// (Config.OffsetsTopicPartitions, OffsetsTopicReplicationFactor); nothing
// else of the groups goes through the backend.
//
// # State
//
// For each partition it leads, the Coordinator holds a shard: the groups
// of that partition, rebuilt from the partition's log when the leadership
// begins (requests answer COORDINATOR_LOAD_IN_PROGRESS meanwhile) and
// dropped when it ends (NOT_COORDINATOR). Every offset commit and every
// group state change worth keeping (a completed assignment, a group left
// empty, a static member replaced) is appended to the log as acks=all and
// answered only once the partition's high watermark passed it. Deletions
// (DeleteGroups, OffsetDelete, offset expiry) append tombstones. The
// records are Kafka's own (see records.go), so a Kafka tool reading
// __consumer_offsets understands them.
//
// # Group state machine
//
// Kafka's classic protocol: Empty -> PreparingRebalance (members join;
// the first rebalance of an empty group waits InitialRebalanceDelay) ->
// CompletingRebalance (every member joined; the leader assigns) -> Stable
// (SyncGroup answered) -> PreparingRebalance again when a member joins,
// leaves, changes its metadata or misses its session timeout; Dead once
// removed. New members get their id with MEMBER_ID_REQUIRED (JoinGroup
// v4+, KIP-394); static members (group.instance.id, KIP-345) keep their
// assignment across restarts without a rebalance and fence their old
// member id (FENCED_INSTANCE_ID). Member protocol metadata and
// assignments are opaque bytes, except that offset retention and
// OffsetDelete read the consumer protocol's subscriptions.
//
// # Usage
//
//	c, err := group.New(group.DefaultConfig(), clusterMembership, partitionManager, logger)
//	c.Start()          // follows the image: loads and drops shards
//	defer c.Close()
//	broker, err := c.Coordinator("my-group")      // FindCoordinator
//	resp := c.JoinGroup(ctx, joinReq, group.Client{ID: clientID, Host: host})
//
// Request methods take kmsg requests and return kmsg responses with Kafka
// error codes; see the core/protocol handlers.
package group
