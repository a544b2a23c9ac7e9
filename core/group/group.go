package group

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"time"

	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a classic group's state, as Kafka names it.
type State int8

// The states of Kafka's classic group protocol.
const (
	// Empty: no members; the group may hold offsets.
	Empty State = iota
	// PreparingRebalance: members are (re)joining.
	PreparingRebalance
	// CompletingRebalance: every member joined; waiting for the leader's
	// assignment (SyncGroup).
	CompletingRebalance
	// Stable: members have their assignment and heartbeat.
	Stable
	// Dead: the group was removed.
	Dead
)

// String is the state's Kafka name (DescribeGroups, ListGroups).
func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	case Dead:
		return "Dead"
	}
	return "Unknown"
}

// Client identifies where a request came from: its client id and host.
type Client struct {
	ID, Host string
}

type topicPartition struct {
	topic     string
	partition int32
}

// committed is one committed offset.
type committed struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTime  int64 // ms
	expireTime  int64 // ms; -1: by retention
	logOffset   int64 // of the record holding it
}

type protocol struct {
	name     string
	metadata []byte
}

// member is one member of a group.
type member struct {
	id         string
	instanceID *string
	clientID   string
	clientHost string
	session    time.Duration
	rebalance  time.Duration
	protocols  []protocol
	assignment []byte

	// Waiting JoinGroup and SyncGroup: the response to fill and the
	// channel to close (nil when not waiting).
	joinResp *kmsg.JoinGroupResponse
	joinDone chan struct{}
	syncResp *kmsg.SyncGroupResponse
	syncDone chan struct{}

	timer    *time.Timer
	timerSeq uint64
}

func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

func sameProtocols(a, b []protocol) bool {
	return slices.EqualFunc(a, b, func(x, y protocol) bool { return x.name == y.name && bytes.Equal(x.metadata, y.metadata) })
}

// group is one consumer group of a shard. Every field is guarded by mu.
type group struct {
	s  *shard
	c  *Coordinator
	id string

	mu           sync.Mutex
	state        State
	stateTime    time.Time
	protocolType string
	protocol     string // selected protocol, "" for none
	generation   int32
	leader       string
	members      map[string]*member
	statics      map[string]string      // instance id -> member id
	pending      map[string]*time.Timer // member ids handed out with MEMBER_ID_REQUIRED
	offsets      map[topicPartition]committed
	// inflight counts commits appended but not yet applied, per
	// partition: a deletion tombstones them too (their records precede
	// the tombstones in the log).
	inflight map[topicPartition]int

	joinTimer        *time.Timer
	joinSeq          uint64
	initial          bool // the pending join is the delayed initial one
	initialRemaining time.Duration
	newMemberJoined  bool
	syncWriting      bool // the leader's assignment is being written
	pendingAssign    map[string][]byte

	// gone is set when the group left its shard (deleted, expired, or the
	// shard unloaded): requests holding it answer goneErr.
	gone    bool
	goneErr *kerr.Error
}

func newGroup(s *shard, id string) *group {
	return &group{
		s: s, c: s.c, id: id, state: Empty, stateTime: s.c.now(),
		members: map[string]*member{}, statics: map[string]string{},
		pending: map[string]*time.Timer{}, offsets: map[topicPartition]committed{},
		inflight: map[topicPartition]int{},
	}
}

// restore sets the group from its loaded metadata record.
func (g *group) restore(m *kmsg.GroupMetadataValue) {
	g.protocolType = m.ProtocolType
	g.generation = m.Generation
	if m.Protocol != nil {
		g.protocol = *m.Protocol
	}
	if m.Leader != nil {
		g.leader = *m.Leader
	}
	if m.Version >= 2 && m.CurrentStateTimestamp > 0 {
		g.stateTime = time.UnixMilli(m.CurrentStateTimestamp)
	}
	for _, mm := range m.Members {
		rebalance := time.Duration(mm.RebalanceTimeoutMillis) * time.Millisecond
		if mm.RebalanceTimeoutMillis < 0 {
			rebalance = time.Duration(mm.SessionTimeoutMillis) * time.Millisecond
		}
		mem := &member{
			id: mm.MemberID, instanceID: mm.InstanceID, clientID: mm.ClientID, clientHost: mm.ClientHost,
			session: time.Duration(mm.SessionTimeoutMillis) * time.Millisecond, rebalance: rebalance,
			protocols:  []protocol{{name: g.protocol, metadata: mm.Subscription}},
			assignment: mm.Assignment,
		}
		g.members[mem.id] = mem
		if mem.instanceID != nil {
			g.statics[*mem.instanceID] = mem.id
		}
		g.scheduleSession(mem)
	}
	if len(g.members) > 0 {
		g.state = Stable
	}
}

func (g *group) transition(s State) {
	g.state = s
	g.stateTime = g.c.now()
}

// shutdown stops every timer and answers every waiting request with e;
// the group is unusable afterwards.
func (g *group) shutdown(e *kerr.Error) {
	g.gone, g.goneErr = true, e
	g.stopJoinTimer()
	for id, t := range g.pending {
		t.Stop()
		delete(g.pending, id)
	}
	for _, m := range g.members {
		if m.timer != nil {
			m.timer.Stop()
		}
		g.failJoin(m, e)
		g.failSync(m, e)
	}
}

func newMemberID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:4]) + "-" + hex.EncodeToString(b[4:6]) + "-" + hex.EncodeToString(b[6:8]) + "-" + hex.EncodeToString(b[8:10]) + "-" + hex.EncodeToString(b[10:])
}

// --- timers ---

// scheduleSession (re)starts m's session timer.
func (g *group) scheduleSession(m *member) {
	if m.timer != nil {
		m.timer.Stop()
	}
	m.timerSeq++
	seq := m.timerSeq
	m.timer = g.c.afterFunc(m.session, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.gone || g.members[m.id] != m || m.timerSeq != seq {
			return
		}
		if m.joinDone != nil {
			// Waiting in a join: kept until the rebalance ends.
			g.scheduleSession(m)
			return
		}
		g.c.log.Debug("group member session expired", "group", g.id, "member", m.id)
		g.removeMember(m, kerr.UnknownMemberID)
		g.afterRemoval()
	})
}

func (g *group) stopJoinTimer() {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
		g.joinTimer = nil
	}
	g.joinSeq++
}

func (g *group) startJoinTimer(d time.Duration) {
	g.stopJoinTimer()
	seq := g.joinSeq
	g.joinTimer = g.c.afterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.gone || g.joinSeq != seq || g.state != PreparingRebalance {
			return
		}
		if g.initial && g.newMemberJoined && g.initialRemaining > 0 {
			d := min(g.c.cfg.InitialRebalanceDelay, g.initialRemaining)
			g.initialRemaining -= d
			g.newMemberJoined = false
			g.startJoinTimer(d)
			return
		}
		g.completeJoin()
	})
}

// startSyncTimer bounds CompletingRebalance (as Kafka 3.x does): members
// that have not sent their SyncGroup when d passes are removed and the
// group rebalances without them, so that a leader that never assigns
// cannot hold the group.
func (g *group) startSyncTimer(d time.Duration) {
	g.stopJoinTimer()
	seq, gen := g.joinSeq, g.generation
	g.joinTimer = g.c.afterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.gone || g.joinSeq != seq || g.state != CompletingRebalance || g.generation != gen || g.syncWriting {
			return
		}
		removed := false
		for _, m := range g.members {
			if m.syncDone == nil {
				g.c.log.Debug("group member did not sync within the rebalance timeout", "group", g.id, "member", m.id)
				g.removeMember(m, kerr.UnknownMemberID)
				removed = true
			}
		}
		if removed {
			g.afterRemoval()
		}
	})
}

// --- membership ---

func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalance)
	}
	return d
}

// candidates are the protocols every member supports, in the order of
// the first member's preference.
func (g *group) candidates() []string {
	var out []string
	first := true
	for _, m := range g.members {
		if first {
			for _, p := range m.protocols {
				out = append(out, p.name)
			}
			first = false
			continue
		}
		out = slices.DeleteFunc(out, func(name string) bool { return !hasProtocol(m.protocols, name) })
	}
	return out
}

func hasProtocol(ps []protocol, name string) bool {
	return slices.ContainsFunc(ps, func(p protocol) bool { return p.name == name })
}

// supports is Kafka's check that a joining member can be in the group.
func (g *group) supports(protocolType string, ps []protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(ps) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, name := range g.candidates() {
		if hasProtocol(ps, name) {
			return true
		}
	}
	return false
}

// selectProtocol is Kafka's vote: each member votes for its most preferred
// candidate; the most votes win (ties: the earlier candidate).
func (g *group) selectProtocol() string {
	cands := g.candidates()
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if slices.Contains(cands, p.name) {
				votes[p.name]++
				break
			}
		}
	}
	best := ""
	for _, name := range cands {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

// addMember adds m waiting in a join and starts or continues a rebalance.
func (g *group) addMember(m *member, resp *kmsg.JoinGroupResponse, protocolType string) chan struct{} {
	if len(g.members) == 0 {
		g.protocolType = protocolType
	}
	g.members[m.id] = m
	if m.instanceID != nil {
		g.statics[*m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
	done := g.awaitJoin(m, resp)
	switch g.state {
	case Empty, Stable, CompletingRebalance:
		g.prepareRebalance()
	case PreparingRebalance:
		if g.initial {
			g.newMemberJoined = true
		}
	}
	g.tryCompleteJoin()
	return done
}

func (g *group) awaitJoin(m *member, resp *kmsg.JoinGroupResponse) chan struct{} {
	g.failJoin(m, kerr.RebalanceInProgress) // a previous join of the same member
	m.joinResp = resp
	m.joinDone = make(chan struct{})
	return m.joinDone
}

// removeMember drops m; its waiting requests get e.
func (g *group) removeMember(m *member, e *kerr.Error) {
	if m.timer != nil {
		m.timer.Stop()
		m.timerSeq++
	}
	g.failJoin(m, e)
	g.failSync(m, e)
	delete(g.members, m.id)
	if m.instanceID != nil && g.statics[*m.instanceID] == m.id {
		delete(g.statics, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		for _, id := range slices.Sorted(mapKeys(g.members)) {
			g.leader = id
			break
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// afterRemoval moves the group on after members left.
func (g *group) afterRemoval() {
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalance()
		g.tryCompleteJoin()
	case PreparingRebalance:
		g.tryCompleteJoin()
	}
}

// prepareRebalance starts a rebalance: syncs waiting in CompletingRebalance
// fail with REBALANCE_IN_PROGRESS; an empty group waits the initial delay,
// others up to the longest rebalance timeout for members to rejoin.
func (g *group) prepareRebalance() {
	if g.state == CompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			g.failSync(m, kerr.RebalanceInProgress)
		}
	}
	delay := g.c.cfg.InitialRebalanceDelay
	if g.state == Empty && delay > 0 {
		g.initial = true
		g.newMemberJoined = false
		g.initialRemaining = max(g.maxRebalanceTimeout()-delay, 0)
		g.startJoinTimer(delay)
	} else {
		g.initial = false
		g.startJoinTimer(g.maxRebalanceTimeout())
	}
	g.transition(PreparingRebalance)
}

// tryCompleteJoin completes the join phase once every member rejoined
// (not during the initial delay).
func (g *group) tryCompleteJoin() {
	if g.state != PreparingRebalance || g.initial || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.joinDone == nil {
			return
		}
	}
	g.completeJoin()
}

// completeJoin ends the join phase: members that did not rejoin are
// removed, the generation advances, a protocol is chosen and every member
// gets its JoinGroup answer (the leader with every member's metadata).
func (g *group) completeJoin() {
	g.stopJoinTimer()
	g.initial = false
	for _, m := range g.members {
		if m.joinDone == nil {
			g.removeMember(m, kerr.UnknownMemberID)
		}
	}
	for id, t := range g.pending {
		t.Stop()
		delete(g.pending, id)
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.transition(Empty)
		g.storeAsync()
		return
	}
	g.protocol = g.selectProtocol()
	if _, ok := g.members[g.leader]; !ok {
		for _, id := range slices.Sorted(mapKeys(g.members)) {
			g.leader = id
			break
		}
	}
	g.transition(CompletingRebalance)
	g.startSyncTimer(g.maxRebalanceTimeout())
	for _, m := range g.members {
		resp := m.joinResp
		g.fillJoin(resp, m, m.id == g.leader)
		close(m.joinDone)
		m.joinResp, m.joinDone = nil, nil
		g.scheduleSession(m)
	}
}

// fillJoin writes the current generation into a JoinGroup answer for m;
// withMembers lists every member (the leader's answer).
func (g *group) fillJoin(resp *kmsg.JoinGroupResponse, m *member, withMembers bool) {
	resp.ErrorCode = 0
	resp.Generation = g.generation
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType, resp.Protocol = &pt, &p
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	resp.Members = nil
	if withMembers {
		for _, id := range slices.Sorted(mapKeys(g.members)) {
			o := g.members[id]
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID, jm.InstanceID, jm.ProtocolMetadata = o.id, o.instanceID, o.metadataFor(g.protocol)
			resp.Members = append(resp.Members, jm)
		}
	}
}

func (g *group) failJoin(m *member, e *kerr.Error) {
	if m.joinDone == nil {
		return
	}
	m.joinResp.ErrorCode = e.Code
	m.joinResp.Generation = -1
	m.joinResp.MemberID = m.id
	close(m.joinDone)
	m.joinResp, m.joinDone = nil, nil
}

func (g *group) failSync(m *member, e *kerr.Error) {
	if m.syncDone == nil {
		return
	}
	m.syncResp.ErrorCode = e.Code
	close(m.syncDone)
	m.syncResp, m.syncDone = nil, nil
}

func (g *group) answerSync(m *member) {
	if m.syncDone == nil {
		return
	}
	m.syncResp.ErrorCode = 0
	pt, p := g.protocolType, g.protocol
	m.syncResp.ProtocolType, m.syncResp.Protocol = &pt, &p
	m.syncResp.MemberAssignment = m.assignment
	close(m.syncDone)
	m.syncResp, m.syncDone = nil, nil
}

// isFenced reports Kafka's static membership fencing: instanceID is
// known with another member id.
func (g *group) isFenced(memberID string, instanceID *string) bool {
	if instanceID == nil {
		return false
	}
	id, ok := g.statics[*instanceID]
	return ok && id != memberID
}

// --- persistence ---

// metadataRecord is the group's metadata record; assignments, when not
// nil, replace the members' current ones.
func (g *group) metadataRecord(assignments map[string][]byte) kv {
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	for _, id := range slices.Sorted(mapKeys(g.members)) {
		m := g.members[id]
		mm := kmsg.NewGroupMetadataValueMember()
		mm.MemberID, mm.InstanceID, mm.ClientID, mm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		mm.RebalanceTimeoutMillis = int32(ms(m.rebalance))
		mm.SessionTimeoutMillis = int32(ms(m.session))
		mm.Subscription = m.metadataFor(g.protocol)
		mm.Assignment = m.assignment
		if assignments != nil {
			mm.Assignment = assignments[m.id]
		}
		if mm.Subscription == nil {
			mm.Subscription = []byte{}
		}
		if mm.Assignment == nil {
			mm.Assignment = []byte{}
		}
		v.Members = append(v.Members, mm)
	}
	return kv{key: groupKey(g.id), value: v.AppendTo(nil)}
}

// storeAsync appends the group's metadata without waiting for it (state
// changes nobody waits for: a group emptied by a rebalance).
func (g *group) storeAsync() {
	if _, e := g.s.appendRecords([]kv{g.metadataRecord(nil)}); e != nil {
		g.c.log.Warn("writing group metadata failed", "group", g.id, "error", e.Message)
	}
}

// expire removes offsets past retention (Kafka's rules: all of an empty
// group's offsets once it has been empty for the retention; a group that
// never had members by each offset's commit time; for a consumer group
// with members, offsets of topics it no longer subscribes to by commit
// time; an explicit expire timestamp wins), then an empty group left
// without offsets.
func (g *group) expire(now time.Time) {
	if g.gone {
		return
	}
	nowMs := now.UnixMilli()
	retention := ms(g.c.cfg.OffsetsRetention)
	var subscribed map[string]bool
	if g.state != Empty {
		subscribed = g.subscribedTopics()
		if subscribed == nil {
			subscribed = map[string]bool{} // unknown: keep everything below
		}
	}
	var recs []kv
	for tp, o := range g.offsets {
		var expired bool
		switch {
		case o.expireTime >= 0:
			expired = o.expireTime <= nowMs
		case g.state == Empty && g.protocolType != "":
			expired = g.stateTime.UnixMilli()+retention <= nowMs
		case g.state == Empty:
			expired = o.commitTime+retention <= nowMs
		case g.protocolType == "consumer" && len(subscribed) > 0 && !subscribed[tp.topic]:
			expired = o.commitTime+retention <= nowMs
		}
		if expired {
			delete(g.offsets, tp)
			recs = append(recs, kv{key: offsetKey(g.id, tp.topic, tp.partition)})
		}
	}
	if g.state == Empty && len(g.offsets) == 0 {
		recs = append(recs, kv{key: groupKey(g.id)})
		g.transition(Dead)
		g.s.remove(g)
		g.shutdown(kerr.CoordinatorNotAvailable)
	}
	if len(recs) > 0 {
		if _, e := g.s.appendRecords(recs); e != nil {
			g.c.log.Warn("writing expired offsets failed", "group", g.id, "error", e.Message)
		} else {
			g.c.log.Debug("expired group offsets", "group", g.id, "records", len(recs))
		}
	}
}

// subscribedTopics returns the topics the members subscribe to, from
// their consumer protocol metadata; nil if the group does not use the
// consumer protocol or a member's metadata does not parse.
func (g *group) subscribedTopics() map[string]bool {
	if g.protocolType != "consumer" || g.protocol == "" {
		return nil
	}
	out := map[string]bool{}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil
		}
		for _, t := range meta.Topics {
			out[t] = true
		}
	}
	return out
}
