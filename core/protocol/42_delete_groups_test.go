package protocol

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/group"
)

// TestOffsetRetention: offsets of a group without members expire after
// offsets.retention (a simple group's by commit time, an emptied consumer
// group's from when it became empty), and the group goes with them; a
// group with a live member keeps its offsets.
func TestOffsetRetention(t *testing.T) {
	b := groupHarness(t, func(c *group.Config) {
		c.OffsetsRetention = 300 * time.Millisecond
		c.OffsetsRetentionCheckInterval = 20 * time.Millisecond
	})
	waitCoordinator(t, b, "retention")
	tp := mustCreateTopic(t, b, "t", 1, 1, nil, nil)

	// A live member commits within its generation and heartbeats.
	live := joinAlone(t, b, 9, "live", nil)
	s := kmsg.NewPtrSyncGroupRequest()
	s.Group, s.MemberID, s.Generation = "live", live.MemberID, live.Generation
	if got := groupCall[*kmsg.SyncGroupResponse](t, b, s); got.ErrorCode != 0 {
		t.Fatalf("sync: %d", got.ErrorCode)
	}
	c := commitReq(8, "live", "t", tp.ID, 0, 11)
	c.Generation, c.MemberID = live.Generation, live.MemberID
	if got := groupCall[*kmsg.OffsetCommitResponse](t, b, c); got.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("member commit: %+v", got)
	}

	start := time.Now()
	if got := groupCall[*kmsg.OffsetCommitResponse](t, b, commitReq(8, "simple", "t", tp.ID, 0, 5)); got.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %+v", got)
	}
	waitFor(t, "simple group's offset expired", func() bool {
		if code := heartbeat(t, b, "live", live.MemberID, live.Generation); code != 0 {
			t.Fatalf("heartbeat: %d", code)
		}
		off, _, _, _ := fetchOffset(t, b, 8, "simple", "t", tp.ID, 0)
		return off == -1
	})
	if since := time.Since(start); since < 300*time.Millisecond {
		t.Fatalf("offset expired after %v, before the retention", since)
	}
	if d := describe(t, b, "simple"); d.State != "Dead" {
		t.Fatalf("simple group after expiry: %+v", d)
	}
	if off, _, _, _ := fetchOffset(t, b, 8, "live", "t", tp.ID, 0); off != 11 {
		t.Fatalf("live group's offset: %d, want 11 kept", off)
	}

	// The member leaves: the group is empty, its offsets expire.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group, leave.MemberID = 1, "live", live.MemberID
	if got := groupCall[*kmsg.LeaveGroupResponse](t, b, leave); got.ErrorCode != 0 {
		t.Fatalf("leave: %d", got.ErrorCode)
	}
	waitFor(t, "emptied group's offset expired", func() bool {
		off, _, _, _ := fetchOffset(t, b, 8, "live", "t", tp.ID, 0)
		return off == -1
	})
	if d := describe(t, b, "live"); d.State != "Dead" {
		t.Fatalf("emptied group after expiry: %+v", d)
	}
}
