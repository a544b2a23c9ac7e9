package raftmeta

import (
	"fmt"
	"sync"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// sessions is the broker session table of the leader. It lives only in the
// leader's memory: heartbeats (forwarded from any node) renew deadlines
// here, and the leader's reaper commits one fence command per expired
// session. When a node becomes leader it activates the table once it has
// applied every earlier entry (see activate for the deadlines it gives);
// when it loses leadership the table is dropped.
//
// Locking: mu is taken before fsm.mu (heartbeat reads the FSM under mu);
// the FSM calls effects after releasing fsm.mu, so the order holds.
type sessions struct {
	timeout time.Duration
	now     func() time.Time
	// kick wakes the reaper when a deadline may have moved earlier.
	kick chan struct{}

	mu     sync.Mutex
	active bool
	m      map[int32]*session
}

type session struct {
	epoch    int64
	deadline time.Time
	// fencing: the reaper decided to fence this session and its fence
	// command is in flight; heartbeats are refused (ErrFenced).
	fencing bool
}

func newSessions(timeout time.Duration) *sessions {
	return &sessions{timeout: timeout, now: time.Now, kick: make(chan struct{}, 1), m: map[int32]*session{}}
}

func (s *sessions) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// activate starts the table for the live sessions, each with a full
// timeout from now: the new leader cannot know when a broker last reached
// the previous one, and a broker whose heartbeats had no leader to go to
// (an election, a stalled or partitioned old leader: the mass-expiry
// hazard of etcd issue 15247) must not be fenced for it. Kafka's KRaft
// controller does the same on failover. The cost: a broker that died with
// the previous Raft leader is fenced an election plus a timeout after it
// died, not a timeout.
func (s *sessions) activate(live map[int32]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	deadline := s.now().Add(s.timeout)
	s.m = make(map[int32]*session, len(live))
	for id, epoch := range live {
		s.m[id] = &session{epoch: epoch, deadline: deadline}
	}
	s.active = true
	s.wake()
}

// deactivate drops the table (leadership lost).
func (s *sessions) deactivate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active = false
	s.m = map[int32]*session{}
}

// apply records what committed commands did to sessions. Called by the FSM
// on every node; ignored unless the table is active.
func (s *sessions) apply(effects []sessionEffect) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.active {
		return
	}
	for _, e := range effects {
		switch e.kind {
		case effectOpened, effectRenewed:
			s.m[e.id] = &session{epoch: e.epoch, deadline: s.now().Add(s.timeout)}
		case effectEnded:
			if cur, ok := s.m[e.id]; ok && cur.epoch == e.epoch {
				delete(s.m, e.id)
			}
		}
	}
	s.wake()
}

// heartbeat renews the session (id, epoch) against the broker as the
// leader's FSM has it. errNotReady if the table is not active.
func (s *sessions) heartbeat(f *fsm, id int32, epoch int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.active {
		return errNotReady
	}
	b, ok := f.broker(id)
	switch {
	case !ok:
		return fmt.Errorf("raftmeta: heartbeat of unknown broker %d: %w", id, metadata.ErrFenced)
	case b.Epoch != epoch:
		return fmt.Errorf("raftmeta: heartbeat of broker %d with epoch %d, current %d: %w", id, epoch, b.Epoch, metadata.ErrStaleEpoch)
	case b.Fenced:
		return fmt.Errorf("raftmeta: heartbeat of broker %d epoch %d: %w", id, epoch, metadata.ErrFenced)
	}
	cur, ok := s.m[id]
	switch {
	case ok && cur.epoch == epoch && cur.fencing:
		return fmt.Errorf("raftmeta: heartbeat of broker %d epoch %d: session expired, fence in progress: %w", id, epoch, metadata.ErrFenced)
	case ok && cur.epoch == epoch:
		cur.deadline = s.now().Add(s.timeout)
	default:
		// The registration is applied but its effect not yet recorded.
		s.m[id] = &session{epoch: epoch, deadline: s.now().Add(s.timeout)}
	}
	return nil
}

// nextExpired returns the expired session with the earliest deadline and
// marks it fencing (ok true), or how long until the earliest deadline
// (wait, zero if none).
func (s *sessions) nextExpired() (id int32, epoch int64, ok bool, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.active {
		return 0, 0, false, 0
	}
	var (
		first *session
		fid   int32
	)
	for sid, se := range s.m {
		if se.fencing {
			continue
		}
		if first == nil || se.deadline.Before(first.deadline) || (se.deadline.Equal(first.deadline) && sid < fid) {
			first, fid = se, sid
		}
	}
	if first == nil {
		return 0, 0, false, 0
	}
	now := s.now()
	if now.Before(first.deadline) {
		return 0, 0, false, first.deadline.Sub(now)
	}
	first.fencing = true
	return fid, first.epoch, true, 0
}

// fenceFailed clears the fencing mark of (id, epoch) after a fence command
// that did not commit, so the reaper tries again.
func (s *sessions) fenceFailed(id int32, epoch int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.m[id]; ok && cur.epoch == epoch {
		cur.fencing = false
	}
}

// fenceDone forgets (id, epoch) after its fence command was applied (the
// effect normally did already; a no-op fence leaves nothing to fence).
func (s *sessions) fenceDone(id int32, epoch int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.m[id]; ok && cur.epoch == epoch && cur.fencing {
		delete(s.m, id)
	}
}
