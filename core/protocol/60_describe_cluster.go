package protocol

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster (key 60): versions 0-2.
//
// Behaviour, from this broker's metadata image like Metadata:
//   - Brokers: the live (unfenced) brokers with their registered listener
//     (the first) and rack; v2 with include_fenced_brokers also the fenced
//     ones, flagged is_fenced. Controller id: the image's (lowest live id,
//     -1 when none is live).
//   - Endpoint type (v1+): this is a broker endpoint (1); a request for
//     controller endpoints (2) answers MISMATCHED_ENDPOINT_TYPE, any other
//     type UNSUPPORTED_ENDPOINT_TYPE, as Kafka.
//   - Cluster id: the image's, as Metadata answers it ("" only if the
//     backend gave none: the field is not nullable).
//   - Cluster authorized operations, when asked: every operation Kafka
//     supports on the cluster (there is no authorizer), as Kafka answers
//     without one.
//   - Before the first metadata image (after waiting up to
//     firstImageWait): REQUEST_TIMED_OUT (retriable) with a message, never
//     an empty or self-only broker list.
//
// Version notes: v0 flexible; v1 endpoint type; v2 include_fenced_brokers
// and is_fenced.

func init() {
	Register(API{Key: 60, MinVersion: 0, MaxVersion: 2, Handle: handleDescribeCluster})
}

func handleDescribeCluster(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.DescribeClusterRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: DescribeCluster handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	switch req.EndpointType {
	case 1: // brokers
	case 2:
		resp.ErrorCode = kerr.MismatchedEndpointType.Code
		resp.ErrorMessage = messagef("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER")
		return resp, nil
	default:
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = messagef("Unsupported endpoint type %d", req.EndpointType)
		return resp, nil
	}

	img, err := metadataImage(ctx, b)
	if err != nil {
		resp.ErrorCode = kerr.RequestTimedOut.Code
		resp.ErrorMessage = messagef("this broker has not loaded the cluster metadata yet: %v", err)
		return resp, nil
	}
	resp.ClusterID = img.ClusterID()
	resp.ControllerID = img.ControllerID()
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterAuthorizedOperations
	}
	brokers := img.LiveBrokers()
	if req.IncludeFencedBrokers {
		brokers = img.Brokers()
	}
	for _, br := range brokers {
		if len(br.Listeners) == 0 {
			continue // unreachable; cluster.Config.Validate requires one
		}
		l := br.Listeners[0]
		sb := kmsg.NewDescribeClusterResponseBroker()
		sb.NodeID, sb.Host, sb.Port = br.ID, l.Host, l.Port
		if br.Rack != "" {
			sb.Rack = kmsg.StringPtr(br.Rack)
		}
		sb.IsFenced = br.Fenced
		resp.Brokers = append(resp.Brokers, sb)
	}
	return resp, nil
}
