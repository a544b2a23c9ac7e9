package raftmeta

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// maxMembershipAttempts bounds how often a leader proposes one membership
// change that does not show up in its configuration (raft refused it, or a
// concurrent change replaced it).
const maxMembershipAttempts = 5

// AddMember adds m to the Raft configuration as a voter (m.Voter) or a
// non-voter, or changes the address or role of an existing member; see
// metadata.Membership. It returns once the new configuration is committed.
// A node being added must be running with its own id and address (a fresh
// node with raft.bootstrap=false). From any node: a follower forwards to the
// leader. ErrInvalid for an empty id, an unusable address, an address used
// by another member, or demoting the last voter.
func (n *Node) AddMember(ctx context.Context, m metadata.Member) error {
	if m.ID == "" {
		return fmt.Errorf("raftmeta: add member: empty id: %w", metadata.ErrInvalid)
	}
	if err := checkAddress(m.Address, false); err != nil {
		return fmt.Errorf("raftmeta: add member %q: address %q: %v: %w", m.ID, m.Address, err, metadata.ErrInvalid)
	}
	return n.changeMembership(ctx, "add member", membershipRequest{Member: m})
}

// RemoveMember removes the node with this id from the Raft configuration;
// see metadata.Membership. Unknown id: nil. Removing the last voter is
// ErrInvalid. A removed node keeps running but takes no part in the
// cluster until it is added again: no leader contacts it any more, and once
// it notices (a heartbeat timeout; until then it may still forward calls to
// the leader it knew) its calls fail with ErrUnavailable when their context
// ends. It may not learn of its removal; it then keeps standing for
// election (pre-vote), which members refuse to a node outside their
// configuration. To remove the leader, the leader first hands leadership
// to another voter, which commits the removal: a leader that removed
// itself would step down without learning the next leader, and could not
// confirm the change to the caller.
func (n *Node) RemoveMember(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("raftmeta: remove member: empty id: %w", metadata.ErrInvalid)
	}
	return n.changeMembership(ctx, "remove member", membershipRequest{Remove: true, Member: metadata.Member{ID: id}})
}

func (n *Node) changeMembership(ctx context.Context, op string, req membershipRequest) error {
	if err := n.enter(ctx); err != nil {
		return err
	}
	ctx, cancel := callContext(ctx)
	defer cancel()
	var resErr error
	err := n.retry(ctx, op, func() (bool, error) {
		if n.raft.State() == raft.Leader {
			err := n.membershipLocal(ctx, req.Remove, req.Member)
			if err != nil && isDomainInvalid(err) {
				resErr = err
				return true, nil
			}
			return err == nil, err
		}
		addr, _ := n.raft.LeaderWithID()
		if addr == "" {
			return false, errNoLeader
		}
		resp, err := n.forwardMembership(ctx, string(addr), req)
		if err != nil {
			return false, err
		}
		resErr = errorOf(resp.Code, resp.Msg)
		return true, nil
	})
	if err != nil {
		return err
	}
	return resErr
}

func isDomainInvalid(err error) bool {
	return codeOf(err) == codeInvalid
}

// membershipLocal applies a membership change on this node, which must be
// the leader. It proposes the change, then commits a barrier: once the
// barrier is applied, every entry before it (the configuration change
// included) is committed, and the latest configuration tells whether the
// change took.
func (n *Node) membershipLocal(ctx context.Context, remove bool, m metadata.Member) error {
	id := raft.ServerID(m.ID)
	for attempt := 0; ; attempt++ {
		if n.raft.State() != raft.Leader {
			return errNotLeader
		}
		cfg := n.raft.GetConfiguration().Configuration()
		cur, found := findServer(cfg, id)
		done := false
		if remove {
			done = !found
		} else {
			want := raft.Nonvoter
			if m.Voter {
				want = raft.Voter
			}
			done = found && cur.Suffrage == want && string(cur.Address) == m.Address
		}
		if done {
			// The change may be in the log but not yet committed: a barrier
			// after it commits it.
			return n.barrier(ctx)
		}
		if attempt >= maxMembershipAttempts {
			return fmt.Errorf("raftmeta: membership change of %q not applied after %d attempts: %w", m.ID, attempt, metadata.ErrUnavailable)
		}
		if err := checkMembershipChange(cfg, remove, m); err != nil {
			return err
		}
		if remove && id == raft.ServerID(n.o.nodeID) {
			// The caller's retry forwards the removal to the new leader.
			if err := n.transferLeadership(ctx); err != nil {
				return err
			}
			return errNotLeader
		}
		var timeout = n.o.electionTimeout
		switch {
		case remove:
			n.raft.RemoveServer(id, 0, timeout)
		case m.Voter:
			n.raft.AddVoter(id, raft.ServerAddress(m.Address), 0, timeout)
		case found && cur.Suffrage == raft.Voter:
			// Demote first; a following attempt fixes the address if needed.
			n.raft.DemoteVoter(id, 0, timeout)
		default:
			n.raft.AddNonvoter(id, raft.ServerAddress(m.Address), 0, timeout)
		}
		// Configuration futures are answered by the FSM goroutine, which
		// drops them at shutdown: do not wait on them; the barrier below is
		// ordered after the change.
		if err := n.barrier(ctx); err != nil {
			return err
		}
		n.log.Info("raft membership change proposed", "remove", remove, "member", m.ID, "address", m.Address, "voter", m.Voter)
	}
}

// transferLeadership hands leadership to another voter and waits until
// this leader has stepped down (or the transfer failed).
func (n *Node) transferLeadership(ctx context.Context) error {
	// Leadership transfer futures always resolve (raft answers them on its
	// leader loop, and on shutdown).
	resolved, err := n.awaitFuture(ctx, n.raft.LeadershipTransfer())
	if resolved && err != nil {
		return fmt.Errorf("raftmeta: handing leadership over before removing this node: %w", err)
	}
	if err != nil {
		return err
	}
	n.log.Info("handed leadership over to remove this node")
	return nil
}

func findServer(cfg raft.Configuration, id raft.ServerID) (raft.Server, bool) {
	for _, s := range cfg.Servers {
		if s.ID == id {
			return s, true
		}
	}
	return raft.Server{}, false
}

// checkMembershipChange refuses what raft would refuse: leaving no voter,
// or two members with one address.
func checkMembershipChange(cfg raft.Configuration, remove bool, m metadata.Member) error {
	id := raft.ServerID(m.ID)
	voters := 0
	for _, s := range cfg.Servers {
		if s.Suffrage == raft.Voter && s.ID != id {
			voters++
		}
		if !remove && s.ID != id && string(s.Address) == m.Address {
			return fmt.Errorf("raftmeta: add member %q: address %s is member %q's: %w", m.ID, m.Address, s.ID, metadata.ErrInvalid)
		}
	}
	if (remove || !m.Voter) && voters == 0 {
		return fmt.Errorf("raftmeta: %q is the last voter: %w", m.ID, metadata.ErrInvalid)
	}
	return nil
}
