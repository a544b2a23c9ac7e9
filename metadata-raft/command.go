package raftmeta

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Command encoding
//
// Every Raft log entry of type LogCommand written by this package is one
// command:
//
//	offset  size  field
//	0       1     format version (commandVersion, 1)
//	1       1     command type (cmdRegister ... cmdLast)
//	2       16    request id: random bytes chosen by the node that first
//	              proposed the command; a retry reuses them
//	18      n     JSON body of the command type (the *Body structs below)
//
// The FSM remembers the result of the last dedupWindow request ids, so a
// command retried after an indeterminate outcome (a leader lost, a timeout,
// a forwarding connection broken) applies at most once: a second entry with
// a known request id changes nothing and yields the first one's result.
//
// A version or type this build does not know is applied as a no-op whose
// result is an error, identically on every node: the FSM never panics on
// log content.

// commandVersion is the format version of commands written by this build.
const commandVersion = 1

// commandHeaderLen is the fixed part of an encoded command.
const commandHeaderLen = 2 + reqIDLen

type cmdType uint8

const (
	cmdRegister cmdType = iota + 1
	cmdUnregister
	cmdFence
	cmdCreateTopic
	cmdDeleteTopic
	cmdAlterPartition
	cmdAllocateProducerIDs
	cmdCompact
	// cmdBarrier changes nothing; a leader commits one to know that every
	// entry before it is applied.
	cmdBarrier
	// cmdAddPartitions and cmdSetTopicConfigs (metadata.TopicUpdater) come
	// after cmdBarrier: the values of existing types, stored in logs, never
	// change. A node of an older build applies them as unknown commands (a
	// no-op whose result is an error), so a cluster must run this build on
	// every node before brokers use them.
	cmdAddPartitions
	cmdSetTopicConfigs
	// cmdSetClusterID sets the cluster id if the state has none (a no-op
	// otherwise); its result carries the id in force. The leader commits
	// one after its barrier when the state has no id: on the first leader
	// of a new cluster, and on the first leader of this build over a data
	// directory written before cluster ids. Appended after the types above
	// for the same reason; a node of an older build applies it as an
	// unknown command and keeps no id, which it has no use for.
	cmdSetClusterID

	// cmdLast is the highest command type this build knows.
	cmdLast = cmdSetClusterID
)

func (c cmdType) String() string {
	switch c {
	case cmdRegister:
		return "register-broker"
	case cmdUnregister:
		return "unregister-broker"
	case cmdFence:
		return "fence-broker"
	case cmdCreateTopic:
		return "create-topic"
	case cmdDeleteTopic:
		return "delete-topic"
	case cmdAlterPartition:
		return "alter-partition"
	case cmdAllocateProducerIDs:
		return "allocate-producer-ids"
	case cmdCompact:
		return "compact"
	case cmdBarrier:
		return "barrier"
	case cmdAddPartitions:
		return "add-partitions"
	case cmdSetTopicConfigs:
		return "set-topic-configs"
	case cmdSetClusterID:
		return "set-cluster-id"
	}
	return fmt.Sprintf("command(%d)", uint8(c))
}

const reqIDLen = 16

// reqID identifies one logical write across its retries.
type reqID [reqIDLen]byte

func newReqID() reqID {
	var id reqID
	if _, err := rand.Read(id[:]); err != nil {
		// crypto/rand never fails on supported platforms.
		panic(fmt.Sprintf("raftmeta: crypto/rand: %v", err))
	}
	return id
}

func (id reqID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText encodes id as hex (snapshots are JSON).
func (id reqID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes the hex form.
func (id *reqID) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != reqIDLen {
		return fmt.Errorf("request id %q: want %d hex bytes", b, reqIDLen)
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// Command bodies. Field names are short and stable: they are stored in the
// Raft log and in snapshots.

type registerBody struct {
	Reg metadata.BrokerRegistration `json:"reg"`
}

type brokerEpochBody struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

type createTopicBody struct {
	Spec metadata.TopicSpec `json:"spec"`
}

type deleteTopicBody struct {
	Name string `json:"name"`
}

type addPartitionsBody struct {
	Topic         string                   `json:"topic"`
	ExpectedCount int32                    `json:"expected"`
	Parts         []metadata.PartitionSpec `json:"parts"`
}

// setTopicConfigsBody replaces a topic's configs. With CAS set it is a
// compare-and-set: it applies only if the topic's configs equal Expected
// (nil and empty alike), else ErrStaleEpoch. Entries written by a build
// before the compare-and-set carry neither field and apply unconditionally,
// as they did (CAS is a separate flag because an expected empty set and an
// absent one encode alike).
type setTopicConfigsBody struct {
	Topic    string            `json:"topic"`
	Configs  map[string]string `json:"configs,omitempty"`
	CAS      bool              `json:"cas,omitempty"`
	Expected map[string]string `json:"expected,omitempty"`
}

type alterPartitionBody struct {
	Change metadata.PartitionChange `json:"change"`
}

type allocateBody struct {
	N int `json:"n"`
}

type compactBody struct {
	Revision metadata.Revision `json:"rev"`
}

type clusterIDBody struct {
	ID string `json:"id"`
}

// command is a decoded command.
type command struct {
	typ  cmdType
	id   reqID
	body []byte // JSON of the type's body
}

// encodeCommand encodes a command of type typ with body under a new
// request id.
func encodeCommand(typ cmdType, body any) ([]byte, error) {
	js, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("raftmeta: encoding %v command: %w", typ, err)
	}
	id := newReqID()
	out := make([]byte, 0, commandHeaderLen+len(js))
	out = append(out, commandVersion, byte(typ))
	out = append(out, id[:]...)
	return append(out, js...), nil
}

// errBadCommand is the error of a log entry this build cannot decode.
var errBadCommand = errors.New("raftmeta: undecodable command")

// decodeCommand splits an encoded command. The body is not parsed.
func decodeCommand(b []byte) (command, error) {
	if len(b) < commandHeaderLen {
		return command{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", errBadCommand, len(b), commandHeaderLen)
	}
	if b[0] != commandVersion {
		return command{}, fmt.Errorf("%w: format version %d, this build reads %d", errBadCommand, b[0], commandVersion)
	}
	c := command{typ: cmdType(b[1]), body: b[commandHeaderLen:]}
	copy(c.id[:], b[2:commandHeaderLen])
	if c.typ < cmdRegister || c.typ > cmdLast {
		return c, fmt.Errorf("%w: unknown type %d", errBadCommand, b[1])
	}
	return c, nil
}

// errCode names a sentinel in results, which cross the forwarding RPC and
// live in snapshots.
type errCode string

const (
	codeNone            errCode = ""
	codeDuplicateBroker errCode = "duplicate-broker"
	codeFenced          errCode = "fenced"
	codeStaleEpoch      errCode = "stale-epoch"
	codeTopicExists     errCode = "topic-exists"
	codeUnknownTopic    errCode = "unknown-topic"
	codeCompacted       errCode = "compacted"
	codeUnavailable     errCode = "unavailable"
	codeInvalid         errCode = "invalid"
	codeUnsupported     errCode = "unsupported"
	codeOther           errCode = "other"
)

var codeSentinels = map[errCode]error{
	codeDuplicateBroker: metadata.ErrDuplicateBroker,
	codeFenced:          metadata.ErrFenced,
	codeStaleEpoch:      metadata.ErrStaleEpoch,
	codeTopicExists:     metadata.ErrTopicExists,
	codeUnknownTopic:    metadata.ErrUnknownTopic,
	codeCompacted:       metadata.ErrCompacted,
	codeUnavailable:     metadata.ErrUnavailable,
	codeInvalid:         metadata.ErrInvalid,
	codeUnsupported:     metadata.ErrUnsupported,
}

// codeOf returns the code of err's sentinel, codeOther if it has none.
func codeOf(err error) errCode {
	if err == nil {
		return codeNone
	}
	for c, s := range codeSentinels {
		if errors.Is(err, s) {
			return c
		}
	}
	return codeOther
}

// remoteErr is an error rebuilt from a code and a message: Error is the
// original text, errors.Is matches the sentinel.
type remoteErr struct {
	msg      string
	sentinel error
}

func (e *remoteErr) Error() string { return e.msg }
func (e *remoteErr) Unwrap() error { return e.sentinel }

// errorOf rebuilds an error from its code and message.
func errorOf(c errCode, msg string) error {
	if c == codeNone {
		return nil
	}
	return &remoteErr{msg: msg, sentinel: codeSentinels[c]}
}

// result is the outcome of applying one command. It is deterministic (the
// same on every node), stored in the dedup table and in snapshots, and sent
// back over the forwarding RPC.
type result struct {
	Code errCode `json:"code,omitempty"`
	Msg  string  `json:"msg,omitempty"`
	// Index is the log index of the command that produced the result (for
	// a deduplicated retry: of the first one).
	Index     uint64              `json:"index"`
	Broker    *metadata.Broker    `json:"broker,omitempty"`
	Topic     *metadata.Topic     `json:"topic,omitempty"`
	Partition *metadata.Partition `json:"partition,omitempty"`
	First     int64               `json:"first,omitempty"`
	// ClusterID is the cluster id in force after a cmdSetClusterID.
	ClusterID string `json:"cluster_id,omitempty"`
}

// err returns the result's error, nil on success.
func (r *result) err() error { return errorOf(r.Code, r.Msg) }

// failed builds the result of a command that was refused.
func failed(index uint64, err error) *result {
	return &result{Code: codeOf(err), Msg: err.Error(), Index: index}
}
