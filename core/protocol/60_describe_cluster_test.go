package protocol

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func describeClusterIDs(resp *kmsg.DescribeClusterResponse) (ids []int32, fenced []bool) {
	for _, br := range resp.Brokers {
		ids = append(ids, br.NodeID)
		fenced = append(fenced, br.IsFenced)
	}
	return ids, fenced
}

// TestDescribeClusterEveryVersion: the live brokers of the image with
// listeners and racks, the image's controller; v2 adds fenced brokers when
// asked.
func TestDescribeClusterEveryVersion(t *testing.T) {
	st := harnessStore(t)
	b := harnessBroker(t, 1, harnessCluster(t, st, 1, "", true))
	keepAlive(t, st, registerBroker(t, st, b, 2, "rack-2"))
	stop3 := keepAlive(t, st, registerBroker(t, st, b, 3, ""))
	stop3()
	waitFor(t, "broker 3 fenced", func() bool { br, ok := b.Cluster.Image().Broker(3); return ok && br.Fenced })

	snap, err := st.Snapshot(harnessCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for v := int16(0); v <= 2; v++ {
		for _, withFenced := range []bool{false, true} {
			req := kmsg.NewPtrDescribeClusterRequest()
			req.Version = v
			req.IncludeFencedBrokers = withFenced
			req.IncludeClusterAuthorizedOperations = withFenced
			resp := roundTrip[*kmsg.DescribeClusterResponse](t, b, req)
			if resp.ErrorCode != 0 || resp.ControllerID != 1 || resp.ClusterID != snap.ClusterID || resp.ClusterID == "" {
				t.Fatalf("v%d: error %d controller %d cluster id %q", v, resp.ErrorCode, resp.ControllerID, resp.ClusterID)
			}
			ids, fenced := describeClusterIDs(resp)
			want := []int32{1, 2}
			if withFenced && v >= 2 {
				want = []int32{1, 2, 3}
			}
			if len(ids) != len(want) {
				t.Fatalf("v%d fenced=%v: brokers %v, want %v", v, withFenced, ids, want)
			}
			for i := range want {
				if ids[i] != want[i] || fenced[i] != (ids[i] == 3) {
					t.Fatalf("v%d fenced=%v: brokers %v fenced %v", v, withFenced, ids, fenced)
				}
			}
			br2 := resp.Brokers[1]
			if br2.Host != "127.0.0.1" || br2.Port != 9002 || br2.Rack == nil || *br2.Rack != "rack-2" || resp.Brokers[0].Rack != nil {
				t.Fatalf("v%d: broker 2 answered %+v", v, br2)
			}
			wantOps := int32(-2147483648)
			if withFenced {
				wantOps = clusterAuthorizedOperations
			}
			if resp.ClusterAuthorizedOperations != wantOps {
				t.Fatalf("v%d: authorized operations %d, want %d", v, resp.ClusterAuthorizedOperations, wantOps)
			}
			if v >= 1 && resp.EndpointType != 1 {
				t.Fatalf("v%d: endpoint type %d", v, resp.EndpointType)
			}
		}
	}
}

// TestDescribeClusterEndpointTypes: only broker endpoints are served.
func TestDescribeClusterEndpointTypes(t *testing.T) {
	_, b := oneBroker(t)
	for endpoint, want := range map[int8]int16{2: kerr.MismatchedEndpointType.Code, 0: kerr.UnsupportedEndpointType.Code, 9: kerr.UnsupportedEndpointType.Code} {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version, req.EndpointType = 1, endpoint
		resp := roundTrip[*kmsg.DescribeClusterResponse](t, b, req)
		if resp.ErrorCode != want || resp.ErrorMessage == nil || len(resp.Brokers) != 0 {
			t.Fatalf("endpoint type %d: error %d, %d brokers", endpoint, resp.ErrorCode, len(resp.Brokers))
		}
	}
}

// TestDescribeClusterBeforeFirstImage: a retriable error, never an empty
// or self-only broker list.
func TestDescribeClusterBeforeFirstImage(t *testing.T) {
	b := harnessBroker(t, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	req := kmsg.NewPtrDescribeClusterRequest()
	req.Version = 2
	resp, err := call(ctx, t, b, req)
	if err != nil {
		t.Fatal(err)
	}
	dc := resp.(*kmsg.DescribeClusterResponse)
	if dc.ErrorCode != kerr.RequestTimedOut.Code || dc.ErrorMessage == nil || len(dc.Brokers) != 0 || dc.ControllerID != -1 {
		t.Fatalf("answered %+v", dc)
	}
}
