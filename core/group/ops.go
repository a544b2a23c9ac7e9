package group

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/partition"
)

// The request methods take a kmsg request at any version and return its
// response at that version, with Kafka errors as codes in it; they never
// return Go errors. The protocol layer normalises old single-key versions
// to the batched form before calling (FindCoordinator, LeaveGroup,
// OffsetFetch). Methods that wait (JoinGroup and SyncGroup for the
// rebalance, commits for replication) return when ctx ends, with
// REBALANCE_IN_PROGRESS or REQUEST_TIMED_OUT-like codes; run them off the
// connection's request loop.

func (c *Coordinator) sessionOK(d time.Duration) bool {
	return d >= c.cfg.MinSessionTimeout && d <= c.cfg.MaxSessionTimeout
}

// wait waits for done or ctx; false when ctx ended first.
func wait(ctx context.Context, done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// JoinGroup serves JoinGroup: it returns when the rebalance completes (or
// at once for errors, MEMBER_ID_REQUIRED, and rejoins that need no
// rebalance).
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, client Client) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	resp.MemberID = req.MemberID
	fail := func(e *kerr.Error) *kmsg.JoinGroupResponse {
		resp.ErrorCode = e.Code
		return resp
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 {
		rebalance = session
	}
	switch {
	case req.Group == "":
		return fail(kerr.InvalidGroupID)
	case !c.sessionOK(session):
		return fail(kerr.InvalidSessionTimeout)
	}
	s, e := c.shardFor(req.Group)
	if e != nil {
		return fail(e)
	}
	g := s.get(req.Group, req.MemberID == "")
	if g == nil {
		if req.MemberID != "" {
			return fail(kerr.UnknownMemberID)
		}
		return fail(kerr.NotCoordinator)
	}
	protos := make([]protocol, len(req.Protocols))
	for i, p := range req.Protocols {
		protos[i] = protocol{name: p.Name, metadata: p.Metadata}
	}

	g.mu.Lock()
	done, write, e := g.join(req, client, resp, protos, session, rebalance)
	g.mu.Unlock()
	if e != nil {
		return fail(e)
	}
	if write != nil {
		if e := s.await(c.ctx, *write); e != nil {
			return fail(e)
		}
	}
	if done != nil && !wait(ctx, done) {
		return fail(kerr.RebalanceInProgress)
	}
	return resp
}

// join is JoinGroup under g.mu. It returns a channel closed when resp is
// filled, or a write to await before resp (already filled) is answered,
// or an error.
func (g *group) join(req *kmsg.JoinGroupRequest, client Client, resp *kmsg.JoinGroupResponse, protos []protocol, session, rebalance time.Duration) (chan struct{}, *partition.ProduceResult, *kerr.Error) {
	switch {
	case g.gone:
		return nil, nil, g.goneErr
	case g.state == Dead:
		return nil, nil, kerr.CoordinatorNotAvailable
	case !g.supports(req.ProtocolType, protos):
		return nil, nil, kerr.InconsistentGroupProtocol
	}
	full := g.c.cfg.MaxGroupSize > 0 && len(g.members) >= g.c.cfg.MaxGroupSize
	newMember := func(id string) *member {
		return &member{id: id, instanceID: req.InstanceID, clientID: client.ID, clientHost: client.Host,
			session: session, rebalance: rebalance, protocols: protos}
	}

	if req.MemberID == "" {
		if req.InstanceID != nil {
			if oldID, ok := g.statics[*req.InstanceID]; ok {
				return g.replaceStatic(g.members[oldID], req, client, resp, protos, session, rebalance)
			}
			if full {
				return nil, nil, kerr.GroupMaxSizeReached
			}
			return g.addMember(newMember(newMemberID(*req.InstanceID)), resp, req.ProtocolType), nil, nil
		}
		if full {
			return nil, nil, kerr.GroupMaxSizeReached
		}
		id := newMemberID(client.ID)
		if req.Version >= 4 {
			// KIP-394: the member must come back with this id.
			g.pending[id] = g.c.afterFunc(session, func() {
				g.mu.Lock()
				defer g.mu.Unlock()
				if t, ok := g.pending[id]; ok && !g.gone {
					t.Stop()
					delete(g.pending, id)
					g.tryCompleteJoin()
				}
			})
			resp.MemberID = id
			return nil, nil, kerr.MemberIDRequired
		}
		return g.addMember(newMember(id), resp, req.ProtocolType), nil, nil
	}

	if t, ok := g.pending[req.MemberID]; ok {
		t.Stop()
		delete(g.pending, req.MemberID)
		return g.addMember(newMember(req.MemberID), resp, req.ProtocolType), nil, nil
	}
	m := g.members[req.MemberID]
	if g.isFenced(req.MemberID, req.InstanceID) {
		return nil, nil, kerr.FencedInstanceID
	}
	if m == nil {
		return nil, nil, kerr.UnknownMemberID
	}
	update := func() {
		m.protocols, m.session, m.rebalance = protos, session, rebalance
		m.clientID, m.clientHost = client.ID, client.Host
	}
	switch g.state {
	case PreparingRebalance:
		update()
		done := g.awaitJoin(m, resp)
		g.tryCompleteJoin()
		return done, nil, nil
	case CompletingRebalance:
		if sameProtocols(m.protocols, protos) {
			// The member missed our answer: give it again.
			g.fillJoin(resp, m, m.id == g.leader)
			return nil, nil, nil
		}
	case Stable:
		if m.id != g.leader && sameProtocols(m.protocols, protos) {
			g.scheduleSession(m)
			g.fillJoin(resp, m, false)
			return nil, nil, nil
		}
	default:
		return nil, nil, kerr.UnknownMemberID
	}
	update()
	done := g.awaitJoin(m, resp)
	g.prepareRebalance()
	g.tryCompleteJoin()
	return done, nil, nil
}

// replaceStatic is a known static member joining with an unknown member
// id (a restarted process): it takes over the old member with a new id;
// the old id is fenced. In a Stable group whose selected protocol stays
// the same no rebalance happens: the member gets the current generation (and then its
// assignment from SyncGroup) once the new id is written.
func (g *group) replaceStatic(old *member, req *kmsg.JoinGroupRequest, client Client, resp *kmsg.JoinGroupResponse, protos []protocol, session, rebalance time.Duration) (chan struct{}, *partition.ProduceResult, *kerr.Error) {
	g.failJoin(old, kerr.FencedInstanceID)
	g.failSync(old, kerr.FencedInstanceID)
	if old.timer != nil {
		old.timer.Stop()
		old.timerSeq++
	}
	m := &member{id: newMemberID(*req.InstanceID), instanceID: req.InstanceID, clientID: client.ID, clientHost: client.Host,
		session: session, rebalance: rebalance, protocols: old.protocols, assignment: old.assignment}
	delete(g.members, old.id)
	g.members[m.id] = m
	g.statics[*req.InstanceID] = m.id
	if g.leader == old.id {
		g.leader = m.id
	}
	m.protocols = protos
	if g.state == Stable && g.selectProtocol() == g.protocol {
		// As Kafka: no rebalance unless the protocol the group would
		// select changes.
		res, e := g.s.appendRecords([]kv{g.metadataRecord(nil)})
		if e != nil {
			return nil, nil, e
		}
		g.scheduleSession(m)
		// Kafka answers without the member list: the group keeps its
		// assignment (with v9, the leader learns it may skip assigning).
		isLeader := m.id == g.leader
		g.fillJoin(resp, m, isLeader && req.Version >= 9)
		resp.SkipAssignment = isLeader && req.Version >= 9
		return nil, &res, nil
	}
	done := g.awaitJoin(m, resp)
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalance()
	}
	g.tryCompleteJoin()
	return done, nil, nil
}

// SyncGroup serves SyncGroup: the leader's assignment is written to the
// log and then handed to every member; the others wait for it.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	fail := func(e *kerr.Error) *kmsg.SyncGroupResponse {
		resp.ErrorCode = e.Code
		return resp
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID)
	}
	s, e := c.shardFor(req.Group)
	if e != nil {
		return fail(e)
	}
	g := s.get(req.Group, false)
	if g == nil {
		return fail(kerr.UnknownMemberID)
	}
	g.mu.Lock()
	done, write, gen, e := g.sync(req, resp)
	g.mu.Unlock()
	if e != nil {
		return fail(e)
	}
	if write != nil {
		e := s.await(c.ctx, *write)
		g.mu.Lock()
		g.syncWritten(gen, e)
		g.mu.Unlock()
	}
	if done != nil && !wait(ctx, done) {
		return fail(kerr.RebalanceInProgress)
	}
	return resp
}

func (g *group) sync(req *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse) (chan struct{}, *partition.ProduceResult, int32, *kerr.Error) {
	switch {
	case g.gone:
		return nil, nil, 0, g.goneErr
	case g.state == Dead:
		return nil, nil, 0, kerr.CoordinatorNotAvailable
	case g.isFenced(req.MemberID, req.InstanceID):
		return nil, nil, 0, kerr.FencedInstanceID
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		return nil, nil, 0, kerr.UnknownMemberID
	case req.Generation != g.generation:
		return nil, nil, 0, kerr.IllegalGeneration
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		return nil, nil, 0, kerr.InconsistentGroupProtocol
	}
	switch g.state {
	case PreparingRebalance:
		return nil, nil, 0, kerr.RebalanceInProgress
	case Stable:
		g.scheduleSession(m)
		pt, p := g.protocolType, g.protocol
		resp.ProtocolType, resp.Protocol = &pt, &p
		resp.MemberAssignment = m.assignment
		return nil, nil, 0, nil
	case CompletingRebalance:
	default:
		return nil, nil, 0, kerr.UnknownMemberID
	}
	g.failSync(m, kerr.RebalanceInProgress) // an earlier sync of the same member
	m.syncResp, m.syncDone = resp, make(chan struct{})
	g.scheduleSession(m)
	if m.id != g.leader || g.syncWriting {
		return m.syncDone, nil, 0, nil
	}
	assignments := map[string][]byte{}
	for _, a := range req.GroupAssignment {
		if _, ok := g.members[a.MemberID]; ok {
			assignments[a.MemberID] = a.MemberAssignment
		}
	}
	res, e := g.s.appendRecords([]kv{g.metadataRecord(assignments)})
	if e != nil {
		g.failAllSyncs(e)
		g.prepareRebalance()
		g.tryCompleteJoin()
		return nil, nil, 0, nil
	}
	g.syncWriting = true
	g.pendingAssign = assignments
	return m.syncDone, &res, g.generation, nil
}

func (g *group) failAllSyncs(e *kerr.Error) {
	for _, m := range g.members {
		m.assignment = nil
		g.failSync(m, e)
	}
}

// syncWritten completes the leader's SyncGroup of generation gen once its
// write is acknowledged (e nil) or failed.
func (g *group) syncWritten(gen int32, e *kerr.Error) {
	g.syncWriting = false
	assign := g.pendingAssign
	g.pendingAssign = nil
	if g.gone || g.generation != gen || g.state != CompletingRebalance {
		return // the rebalance moved on; its waiters were answered
	}
	if e != nil {
		g.failAllSyncs(e)
		g.prepareRebalance()
		g.tryCompleteJoin()
		return
	}
	for _, m := range g.members {
		m.assignment = assign[m.id]
		if m.assignment == nil {
			m.assignment = []byte{}
		}
	}
	g.stopJoinTimer()
	g.transition(Stable)
	for _, m := range g.members {
		g.answerSync(m)
	}
}

// Heartbeat serves Heartbeat.
func (c *Coordinator) Heartbeat(_ context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if e := c.heartbeat(req); e != nil {
		resp.ErrorCode = e.Code
	}
	return resp
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) *kerr.Error {
	if req.Group == "" {
		return kerr.InvalidGroupID
	}
	s, e := c.shardFor(req.Group)
	if e != nil {
		return e
	}
	g := s.get(req.Group, false)
	if g == nil {
		return kerr.UnknownMemberID
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.gone:
		return g.goneErr
	case g.state == Dead:
		return kerr.CoordinatorNotAvailable
	case g.state == Empty:
		return kerr.UnknownMemberID
	case g.isFenced(req.MemberID, req.InstanceID):
		return kerr.FencedInstanceID
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case req.Generation != g.generation:
		return kerr.IllegalGeneration
	}
	g.scheduleSession(m)
	if g.state == PreparingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

// LeaveGroup serves LeaveGroup in its batched form (v3+; the protocol
// layer turns a v0-2 member id into one member). The response has one
// entry per member.
func (c *Coordinator) LeaveGroup(_ context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	s, e := c.shardFor(req.Group)
	if e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	g := s.get(req.Group, false)
	if g != nil {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.gone {
			resp.ErrorCode = g.goneErr.Code
			return resp
		}
		if g.state == Dead {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp
		}
	}
	removed := false
	for _, lm := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		code := int16(0)
		switch {
		case g == nil:
			code = kerr.UnknownMemberID.Code
		default:
			code = g.leave(lm.MemberID, lm.InstanceID)
			removed = removed || code == 0
		}
		rm.ErrorCode = code
		resp.Members = append(resp.Members, rm)
	}
	if removed {
		g.afterRemoval()
	}
	return resp
}

func (g *group) leave(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		id, ok := g.statics[*instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case memberID != "" && memberID != id:
			return kerr.FencedInstanceID.Code
		}
		memberID = id
	}
	if t, ok := g.pending[memberID]; ok {
		t.Stop()
		delete(g.pending, memberID)
		return 0
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	g.removeMember(m, kerr.UnknownMemberID)
	return 0
}

// OffsetCommit serves OffsetCommit (topics by name; the protocol layer
// resolves v10 topic ids): the commits are written to the log and applied
// once replicated.
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	codes := make([][]int16, len(req.Topics))
	setAll := func(e *kerr.Error) {
		for i := range codes {
			for j := range codes[i] {
				if codes[i][j] == 0 {
					codes[i][j] = e.Code
				}
			}
		}
	}
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
	}
	defer func() {
		for i, t := range req.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for j, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, codes[i][j]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}()
	if req.Group == "" {
		setAll(kerr.InvalidGroupID)
		return resp
	}
	s, e := c.shardFor(req.Group)
	if e != nil {
		setAll(e)
		return resp
	}
	img, _ := c.cl.Current()
	now := c.now().UnixMilli()
	expire := int64(-1)
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis >= 0 {
		expire = now + req.RetentionTimeMillis
	}
	type item struct {
		i, j int
		tp   topicPartition
		c    committed
	}
	var items []item
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if _, ok := img.Partition(t.Topic, p.Partition); !ok {
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
				continue
			}
			if p.Metadata != nil && len(*p.Metadata) > c.cfg.MaxMetadataSize {
				codes[i][j] = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			ts := now
			if req.Version == 1 && p.Timestamp >= 0 {
				ts = p.Timestamp
			}
			items = append(items, item{i: i, j: j, tp: topicPartition{t.Topic, p.Partition},
				c: committed{offset: p.Offset, leaderEpoch: p.LeaderEpoch, metadata: md, commitTime: ts, expireTime: expire}})
		}
	}
	if len(items) == 0 {
		return resp
	}
	simple := req.Generation < 0 && req.MemberID == "" && req.InstanceID == nil
	g := s.get(req.Group, simple)
	if g == nil {
		setAll(kerr.IllegalGeneration)
		return resp
	}
	g.mu.Lock()
	e = g.validateCommit(req)
	if e != nil {
		g.mu.Unlock()
		setAll(e)
		return resp
	}
	recs := make([]kv, len(items))
	for k, it := range items {
		recs[k] = kv{key: offsetKey(g.id, it.tp.topic, it.tp.partition), value: offsetValue(it.c)}
	}
	res, e := s.appendRecords(recs)
	if e != nil {
		g.mu.Unlock()
		setAll(e)
		return resp
	}
	for _, it := range items {
		g.inflight[it.tp]++
	}
	g.mu.Unlock()
	e = s.await(c.ctx, res)
	g.mu.Lock()
	for _, it := range items {
		if g.inflight[it.tp]--; g.inflight[it.tp] <= 0 {
			delete(g.inflight, it.tp)
		}
	}
	if !g.gone && e == nil {
		for k, it := range items {
			it.c.logOffset = res.BaseOffset + int64(k)
			if old, ok := g.offsets[it.tp]; !ok || old.logOffset < it.c.logOffset {
				g.offsets[it.tp] = it.c
			}
		}
	}
	g.mu.Unlock()
	if e != nil {
		setAll(e)
	}
	return resp
}

// validateCommit is Kafka's check of an offset commit against the group.
func (g *group) validateCommit(req *kmsg.OffsetCommitRequest) *kerr.Error {
	switch {
	case g.gone:
		return g.goneErr
	case g.state == Dead:
		return kerr.CoordinatorNotAvailable
	case req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil:
		if g.isFenced(req.MemberID, req.InstanceID) {
			return kerr.FencedInstanceID
		}
		m := g.members[req.MemberID]
		if m == nil {
			return kerr.UnknownMemberID
		}
		if req.Generation != g.generation {
			return kerr.IllegalGeneration
		}
		if g.state == CompletingRebalance {
			return kerr.RebalanceInProgress
		}
		g.scheduleSession(m)
	case g.state != Empty:
		// All commits of a group come with a generation and member, or
		// none do.
		return kerr.IllegalGeneration
	}
	return nil
}

// OffsetFetch serves OffsetFetch in its multi-group form (v8+; the
// protocol layer turns older requests into one group and back).
func (c *Coordinator) OffsetFetch(_ context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	for _, rg := range req.Groups {
		resp.Groups = append(resp.Groups, c.fetchGroup(rg))
	}
	return resp
}

func (c *Coordinator) fetchGroup(rg kmsg.OffsetFetchRequestGroup) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = rg.Group
	s, e := c.shardFor(rg.Group)
	if e != nil {
		out.ErrorCode = e.Code
		return out
	}
	g := s.get(rg.Group, false)
	offsets := map[topicPartition]committed{}
	if g != nil {
		g.mu.Lock()
		if g.gone {
			out.ErrorCode = g.goneErr.Code
			g.mu.Unlock()
			return out
		}
		for tp, o := range g.offsets {
			offsets[tp] = o
		}
		g.mu.Unlock()
	}
	partitionFor := func(p int32, o committed, ok bool) kmsg.OffsetFetchResponseGroupTopicPartition {
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition = p
		rp.Offset, rp.LeaderEpoch = -1, -1
		if ok {
			md := o.metadata
			rp.Offset, rp.LeaderEpoch, rp.Metadata = o.offset, o.leaderEpoch, &md
		} else {
			md := ""
			rp.Metadata = &md
		}
		return rp
	}
	if rg.Topics == nil {
		byTopic := map[string][]int32{}
		for tp := range offsets {
			byTopic[tp.topic] = append(byTopic[tp.topic], tp.partition)
		}
		for _, topic := range slices.Sorted(mapKeys(byTopic)) {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = topic
			ps := byTopic[topic]
			slices.Sort(ps)
			for _, p := range ps {
				rt.Partitions = append(rt.Partitions, partitionFor(p, offsets[topicPartition{topic, p}], true))
			}
			out.Topics = append(out.Topics, rt)
		}
		return out
	}
	for _, t := range rg.Topics {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			o, ok := offsets[topicPartition{t.Topic, p}]
			rt.Partitions = append(rt.Partitions, partitionFor(p, o, ok))
		}
		out.Topics = append(out.Topics, rt)
	}
	return out
}

// DescribeGroups serves DescribeGroups. Members carry their metadata and
// assignment only in a Stable group, as in Kafka. A group that does not
// exist is Dead (v6+: with GROUP_ID_NOT_FOUND).
func (c *Coordinator) DescribeGroups(_ context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		dg.AuthorizedOperations = -2147483648
		if req.IncludeAuthorizedOperations {
			// No ACLs: every group operation is allowed (READ, DELETE,
			// DESCRIBE).
			dg.AuthorizedOperations = 1<<3 | 1<<6 | 1<<8
		}
		s, e := c.shardFor(id)
		if e != nil {
			dg.ErrorCode = e.Code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		g := s.get(id, false)
		if g == nil {
			dg.State = Dead.String()
			if req.Version >= 6 {
				dg.ErrorCode = kerr.GroupIDNotFound.Code
			}
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		g.mu.Lock()
		dg.State = g.state.String()
		dg.ProtocolType = g.protocolType
		if g.state == Stable || g.state == CompletingRebalance {
			dg.Protocol = g.protocol
		}
		for _, mid := range slices.Sorted(mapKeys(g.members)) {
			m := g.members[mid]
			dm := kmsg.NewDescribeGroupsResponseGroupMember()
			dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
			if g.state == Stable {
				dm.ProtocolMetadata = m.metadataFor(g.protocol)
				dm.MemberAssignment = m.assignment
			}
			dg.Members = append(dg.Members, dm)
		}
		g.mu.Unlock()
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// ListGroups serves ListGroups: the groups of the partitions this broker
// coordinates, filtered by state (v4+, case-insensitive) and type (v5+:
// every group here is "classic"). COORDINATOR_LOAD_IN_PROGRESS, with the
// groups already loaded, while a partition loads.
func (c *Coordinator) ListGroups(_ context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	shards, loading := c.loadedShards()
	if loading {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	match := func(want []string, have string) bool {
		return len(want) == 0 || slices.ContainsFunc(want, func(w string) bool { return strings.EqualFold(w, have) })
	}
	for _, s := range shards {
		for _, g := range s.all() {
			g.mu.Lock()
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.id, g.protocolType, g.state.String(), "classic"
			ok := !g.gone && g.state != Dead && match(req.StatesFilter, lg.GroupState) && match(req.TypesFilter, lg.GroupType)
			g.mu.Unlock()
			if ok {
				resp.Groups = append(resp.Groups, lg)
			}
		}
	}
	slices.SortFunc(resp.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return resp
}

// DeleteGroups serves DeleteGroups: an empty group's offsets and metadata
// are tombstoned and the group removed.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		if e := c.deleteGroup(id); e != nil {
			dg.ErrorCode = e.Code
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(id string) *kerr.Error {
	if id == "" {
		return kerr.InvalidGroupID
	}
	s, e := c.shardFor(id)
	if e != nil {
		return e
	}
	g := s.get(id, false)
	if g == nil {
		return kerr.GroupIDNotFound
	}
	g.mu.Lock()
	switch {
	case g.gone:
		g.mu.Unlock()
		if g.goneErr == kerr.NotCoordinator {
			return g.goneErr
		}
		return kerr.GroupIDNotFound
	case g.state == Dead:
		g.mu.Unlock()
		return kerr.GroupIDNotFound
	case g.state != Empty:
		g.mu.Unlock()
		return kerr.NonEmptyGroup
	}
	recs := make([]kv, 0, len(g.offsets)+len(g.inflight)+1)
	for tp := range g.offsets {
		recs = append(recs, kv{key: offsetKey(g.id, tp.topic, tp.partition)})
	}
	for tp := range g.inflight {
		if _, ok := g.offsets[tp]; !ok {
			recs = append(recs, kv{key: offsetKey(g.id, tp.topic, tp.partition)})
		}
	}
	recs = append(recs, kv{key: groupKey(g.id)})
	res, e := s.appendRecords(recs)
	if e != nil {
		g.mu.Unlock()
		return e
	}
	g.offsets = map[topicPartition]committed{}
	g.transition(Dead)
	s.remove(g)
	g.shutdown(kerr.CoordinatorNotAvailable)
	g.mu.Unlock()
	return s.await(c.ctx, res)
}

// OffsetDelete serves OffsetDelete: offsets of topics the group does not
// subscribe to (any, when it is empty) are tombstoned.
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	s, e := c.shardFor(req.Group)
	if e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	g := s.get(req.Group, false)
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	g.mu.Lock()
	switch {
	case g.gone && g.goneErr == kerr.NotCoordinator:
		resp.ErrorCode = kerr.NotCoordinator.Code
	case g.gone, g.state == Dead:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
	case g.state != Empty && g.protocolType != "consumer":
		resp.ErrorCode = kerr.NonEmptyGroup.Code
	}
	if resp.ErrorCode != 0 {
		g.mu.Unlock()
		return resp
	}
	var subscribed map[string]bool
	if g.state != Empty {
		subscribed = g.subscribedTopics()
	}
	var recs []kv
	var dels []topicPartition
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			tp := topicPartition{t.Topic, p.Partition}
			switch {
			case g.state != Empty && (subscribed == nil || subscribed[t.Topic]):
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				if _, ok := g.offsets[tp]; ok {
					recs = append(recs, kv{key: offsetKey(g.id, tp.topic, tp.partition)})
					dels = append(dels, tp)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(recs) == 0 {
		g.mu.Unlock()
		return resp
	}
	res, e := s.appendRecords(recs)
	if e == nil {
		for _, tp := range dels {
			delete(g.offsets, tp)
		}
	}
	g.mu.Unlock()
	if e == nil {
		e = s.await(c.ctx, res)
	}
	if e != nil {
		resp.ErrorCode = e.Code
		resp.Topics = nil
	}
	return resp
}
