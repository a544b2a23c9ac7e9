// Package cluster is chronik's cluster conformance suite: it starts three
// chronik brokers as real processes of a given binary, on free loopback
// ports and in fresh directories, over a given metadata backend, and checks
// with real Kafka clients (franz-go), each bootstrapped from ONE node, what
// a multi-broker cluster must guarantee (DESIGN.md sections 1 and 5, issue
// 7):
//
//   - brokers-listed: every node lists all 3 brokers, with identical ids and
//     addresses (the advertised ones), the same live controller and the
//     same cluster id.
//   - topic-everywhere: a topic created through node 1 is visible with a
//     live leader for every partition on every node within 1 s of the
//     CreateTopics answer.
//   - produce-consume: records produced through node 2 are all consumed
//     through node 3 — in a consumer group, with its offsets committed, if
//     the brokers advertise the group APIs; otherwise from assigned
//     partitions (the check says which).
//   - kill-fenced: a broker killed with SIGKILL leaves every other node's
//     Metadata within the session timeout + 1 s, and its partitions
//     (replication factor 1) answer LEADER_NOT_AVAILABLE there.
//   - restart-epoch: started again on its data dir it is listed by every
//     node again, with a higher broker epoch (GET /v1/cluster), leading its
//     partitions again.
//   - kill-backend-leader (Config.Perf): the broker whose node leads the
//     backend quorum (Raft) killed: time until fenced everywhere, which
//     includes an election and a fresh session timeout by design; reported,
//     never asserted.
//   - full-restart: all three stopped and started again: the topics, every
//     record and the committed group offsets are intact.
//   - topic-latency (Config.Perf): CreateTopics to leaders on every node,
//     p50/p99 over 50 topics; reported, never asserted.
//
// The checks share one cluster and run in this order (later checks use the
// topics of earlier ones). Measurements (fencing time, visibility time,
// time from a broker's start to being listed everywhere) are reported as
// notes.
//
// From a Go test:
//
//	cluster.Run(t, cluster.Config{Binary: chronikBinary, Backend: "raft"})
//	cluster.Run(t, cluster.Config{Binary: chronikBinary, Backend: "etcd",
//		Args: []string{"--metadata.etcd.endpoints", endpoints}}) // fresh prefix chosen
//
// From the command line (a third-party backend plugin):
//
//	chronik-conformance cluster --chronik ./bin/chronik --metadata ./chronik-metadata-NAME
//
// Broker N's output goes to nodeN.log beside its data dir nodeN; a failing
// check shows the end of every broker's log.
package cluster
