package protocol

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/topicconfig"
	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestKafkaError(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("doing something: %w", err) }
	cases := []struct {
		err  error
		want *kerr.Error
	}{
		{nil, nil},
		{wrap(cluster.ErrClosed), kerr.BrokerNotAvailable},
		{fmt.Errorf("%w: %w", cluster.ErrClosed, metadata.ErrUnavailable), kerr.BrokerNotAvailable},
		{wrap(topicconfig.ErrUnknown), kerr.InvalidConfig},
		{wrap(topicconfig.ErrInvalid), kerr.InvalidConfig},
		{wrap(cluster.ErrInvalidTopic), kerr.InvalidTopicException},
		{wrap(cluster.ErrInvalidPartitions), kerr.InvalidPartitions},
		{wrap(cluster.ErrInvalidReplicationFactor), kerr.InvalidReplicationFactor},
		{wrap(cluster.ErrInvalidReplicaAssignment), kerr.InvalidReplicaAssignment},
		{wrap(cluster.ErrInvalidRequest), kerr.InvalidRequest},
		{wrap(metadata.ErrInvalid), kerr.InvalidRequest},
		{wrap(cluster.ErrTopicExists), kerr.TopicAlreadyExists},
		{wrap(metadata.ErrTopicExists), kerr.TopicAlreadyExists},
		{wrap(cluster.ErrUnknownTopic), kerr.UnknownTopicOrPartition},
		{wrap(cluster.ErrUnsupported), kerr.UnsupportedVersion},
		{wrap(cluster.ErrNoImage), kerr.RequestTimedOut},
		{wrap(metadata.ErrUnavailable), kerr.RequestTimedOut},
		{wrap(context.DeadlineExceeded), kerr.RequestTimedOut},
		{wrap(context.Canceled), kerr.RequestTimedOut},
		{wrap(metadata.ErrStaleEpoch), kerr.UnknownServerError},
		{errors.New("something else"), kerr.UnknownServerError},
	}
	for _, c := range cases {
		if got := kafkaError(c.err); got != c.want {
			t.Errorf("kafkaError(%v) = %v, want %v", c.err, got, c.want)
		}
		wantCode := int16(0)
		if c.want != nil {
			wantCode = c.want.Code
		}
		if got := errorCode(c.err); got != wantCode {
			t.Errorf("errorCode(%v) = %d, want %d", c.err, got, wantCode)
		}
		if (errorMessage(c.err) == nil) != (c.err == nil) {
			t.Errorf("errorMessage(%v) = %v", c.err, errorMessage(c.err))
		}
	}
}

// servedHere are the APIs of this file set with the versions they
// advertise; TestEveryAdvertisedVersion keeps the registry and the tests
// in step.
var servedHere = map[int16][2]int16{
	3:  {0, 13}, // Metadata
	19: {0, 7},  // CreateTopics
	20: {0, 6},  // DeleteTopics
	32: {0, 4},  // DescribeConfigs
	33: {0, 2},  // AlterConfigs
	37: {0, 3},  // CreatePartitions
	44: {0, 1},  // IncrementalAlterConfigs
	60: {0, 2},  // DescribeCluster
}

// TestEveryAdvertisedVersion: every version these APIs advertise (the
// newest kmsg knows, down to 0) decodes a request, is answered without a
// connection error, and its answer encodes and decodes at that version.
func TestEveryAdvertisedVersion(t *testing.T) {
	_, b := oneBroker(t)
	mustCreateTopic(t, b, "present", 1, 1, nil, nil)
	for key, want := range servedHere {
		api, ok := Lookup(key)
		if !ok || api.MinVersion != want[0] || api.MaxVersion != want[1] {
			t.Fatalf("%s registered as %+v, want versions %d-%d", kmsg.NameForKey(key), api, want[0], want[1])
		}
		if max := kmsg.RequestForKey(key).MaxVersion(); api.MaxVersion != max {
			t.Fatalf("%s: advertises up to v%d, kmsg knows v%d", api.Name(), api.MaxVersion, max)
		}
		for v := api.MinVersion; v <= api.MaxVersion; v++ {
			req := kmsg.RequestForKey(key)
			req.SetVersion(v)
			resp, err := call(harnessCtx(t), t, b, req)
			if err != nil {
				t.Fatalf("%s v%d: %v", api.Name(), v, err)
			}
			if resp.Key() != key || resp.GetVersion() != v {
				t.Fatalf("%s v%d: answered %s v%d", api.Name(), v, kmsg.NameForKey(resp.Key()), resp.GetVersion())
			}
		}
	}
}
