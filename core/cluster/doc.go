// Package cluster is a broker's membership in a chronik cluster and its view
// of the cluster metadata. It is the only place the broker learns which
// brokers exist, which are alive, which topics exist and who leads each
// partition: every Kafka answer that names brokers, leaders or the
// controller reads an Image from here. There is no node-local registry, no
// polling and no self-only fallback: before the first Image is loaded the
// answer is a retriable error, never a guess.
//
// A Cluster runs two loops over a metadata.Backend:
//
//   - The image loop takes a Snapshot and then follows Watch from its
//     revision, applying every batch to a copy-on-write Image published
//     through an atomic pointer (Image, Current). A stream that fails with
//     metadata.ErrCompacted, or a batch that does not follow, leads to a new
//     Snapshot; any other failure (the plugin restarting, no quorum) resumes
//     the watch from the last applied revision after a backoff. A published
//     Image always holds whole revisions.
//   - The registration loop registers the broker (a new incarnation id per
//     process) and heartbeats every HeartbeatInterval. A fenced session
//     (ErrFenced, ErrStaleEpoch) is registered again with a new epoch;
//     ErrDuplicateBroker after a quick restart is retried until the previous
//     incarnation's session expires; ErrUnavailable is retried without
//     re-registering. Ready reports registered AND present, unfenced, with
//     our epoch in the published Image.
//
// Topic admin (CreateTopic, DeleteTopic, CreatePartitions,
// AlterTopicConfigs) goes through the backend on whichever broker receives
// the request, and returns once that broker's Image includes the change.
//
// Usage:
//
//	c, err := cluster.New(cluster.Config{
//		BrokerID:  1,
//		Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "10.0.0.1", Port: 9092}},
//	}, backend, logger)
//	if err != nil { ... }
//	c.Start()           // returns at once
//	defer c.Close()     // unregisters (controlled shutdown), stops the loops
//
//	img := c.Image()    // nil until the first snapshot: answer a retriable error
//	for _, b := range img.LiveBrokers() { ... }       // Metadata brokers
//	leader, epoch, ok := img.LeaderFor("orders", 0)   // !ok: LEADER_NOT_AVAILABLE
//
//	t, err := c.CreateTopic(ctx, "orders", 6, 3, nil, nil)
//	// errors.Is(err, cluster.ErrInvalidReplicationFactor) -> INVALID_REPLICATION_FACTOR, ...
//
// Lock order: Cluster.lifeMu and Cluster.regMu are leaves, never held
// together and never held while calling the backend or blocking.
package cluster
