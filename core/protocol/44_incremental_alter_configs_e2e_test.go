package protocol_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/topicconfig"
	"github.com/chronik-go/chronik/plugins/memory"
)

// End-to-end tests that IncrementalAlterConfigs, a read-modify-write of a
// topic's configs, loses no change when changes of one topic run at once
// or one after the other through different brokers (the broker writes a
// compare-and-set on the configs it read and retries on a newer image),
// as Kafka's controller applies each increment atomically.

// configValue is a valid value of topic config name for round r, different
// from the value of round r-1.
func configValue(name string, r int) string {
	switch name {
	case topicconfig.CleanupPolicy:
		return []string{topicconfig.CleanupPolicyDelete, topicconfig.CleanupPolicyCompact}[r%2]
	case topicconfig.MessageTimestampType:
		return []string{topicconfig.TimestampTypeCreateTime, topicconfig.TimestampTypeLogAppendTime}[r%2]
	case topicconfig.UncleanLeaderElectionEnable:
		return []string{"false", "true"}[r%2]
	case topicconfig.MinCleanableDirtyRatio:
		return fmt.Sprintf("0.%d", 1+r%9)
	case topicconfig.MinCompactionLagMs:
		return fmt.Sprint(r) // below max.compaction.lag.ms of every round
	case topicconfig.MinInsyncReplicas:
		return fmt.Sprint(1 + r)
	}
	return fmt.Sprint(1_000_000 + r) // the numeric configs
}

// twoBrokersOneTopic starts brokers 1 and 2 on nodes of one memory store
// and creates topic through broker 1; it returns a client of each.
func twoBrokersOneTopic(t *testing.T, topic string) (*memory.Store, *kgo.Client, *kgo.Client) {
	t.Helper()
	st := e2eStore(t)
	n1, n2 := st.Node("n1"), st.Node("n2")
	t.Cleanup(func() { _ = n1.Close(); _ = n2.Close() })
	b1 := startE2EBroker(t, 1, n1, true)
	b2 := startE2EBroker(t, 2, n2, true)
	cl1, cl2 := e2eClient(t, b1.Addr()), e2eClient(t, b2.Addr())
	ctx := e2eCtx(t)
	eventually(t, "both brokers list both brokers", func() bool {
		return len(metadataFor(ctx, t, pinned(cl1)).Brokers) == 2 && len(metadataFor(ctx, t, pinned(cl2)).Brokers) == 2
	})
	if _, err := kadm.NewClient(cl1).CreateTopic(ctx, 1, 2, nil, topic); err != nil {
		t.Fatal(err)
	}
	return st, cl1, cl2
}

// incSet sets one config of topic with IncrementalAlterConfigs sent to
// broker to.
func incSet(ctx context.Context, to *kgo.Broker, topic, name, value string) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = name, kmsg.IncrementalAlterConfigOpSet, &value
	rr.Configs = append(rr.Configs, c)
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, to)
	if err != nil {
		return err
	}
	if len(resp.Resources) != 1 {
		return fmt.Errorf("%d resources in the answer", len(resp.Resources))
	}
	if r := resp.Resources[0]; r.ErrorCode != 0 {
		return fmt.Errorf("%w: %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
	}
	return nil
}

// storedConfigs are topic's configs in the metadata backend.
func storedConfigs(t *testing.T, st *memory.Store, topic string) map[string]string {
	t.Helper()
	s, err := st.Snapshot(e2eCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return s.Topics[topic].Configs
}

// describedConfigs are the configs of topic that DescribeConfigs through
// cl reports as set on the topic.
func describedConfigs(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) map[string]string {
	t.Helper()
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("DescribeTopicConfigs(%s): %+v, %v", topic, rc, err)
	}
	got := map[string]string{}
	for _, c := range rc.Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			got[c.Key] = c.MaybeValue()
		}
	}
	return got
}

// TestE2EIncrementalAlterConfigsConcurrentThroughTwoBrokers: in each round,
// one SET of every topic config, all at once, half pinned to each broker
// and some through kadm's own routing: every value of the round is there
// at the end, in the backend and as both brokers describe the topic.
func TestE2EIncrementalAlterConfigsConcurrentThroughTwoBrokers(t *testing.T) {
	const topic = "contended"
	st, cl1, cl2 := twoBrokersOneTopic(t, topic)
	ctx := e2eCtx(t)
	to := []*kgo.Broker{pinned(cl1), pinned(cl2)}
	adm := []*kadm.Client{kadm.NewClient(cl1), kadm.NewClient(cl2)}
	const rounds = 4
	for r := range rounds {
		want := map[string]string{}
		errs := make([]error, len(topicconfig.Defs))
		var wg sync.WaitGroup
		for i, d := range topicconfig.Defs {
			value := configValue(d.Name, r)
			want[d.Name] = value
			wg.Go(func() {
				if i%3 == 2 {
					res, err := adm[i%2].AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: d.Name, Value: &value}}, topic)
					if err == nil {
						_, err = res.On(topic, func(r *kadm.AlterConfigsResponse) error { return r.Err })
					}
					errs[i] = err
					return
				}
				errs[i] = incSet(ctx, to[i%2], topic, d.Name, value)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: SET %s: %v", r, topicconfig.Defs[i].Name, err)
			}
		}
		if got := storedConfigs(t, st, topic); !maps.Equal(got, want) {
			t.Fatalf("round %d: stored configs after %d concurrent SETs:\n got %v\nwant %v", r, len(want), got, want)
		}
	}
	want := map[string]string{}
	for _, d := range topicconfig.Defs {
		want[d.Name] = configValue(d.Name, rounds-1)
	}
	for i, cl := range []*kgo.Client{cl1, cl2} {
		eventually(t, fmt.Sprintf("broker %d describes every config set", i+1), func() bool {
			return maps.Equal(describedConfigs(ctx, t, cl, topic), want)
		})
	}
}

// TestE2EIncrementalAlterConfigsSequentialThroughTwoBrokers: one client
// sets a config through broker 1 and, as soon as that is answered, another
// through broker 2, whose image may not have the first change yet: both
// stay set.
func TestE2EIncrementalAlterConfigsSequentialThroughTwoBrokers(t *testing.T) {
	const topic = "sequential"
	st, cl1, cl2 := twoBrokersOneTopic(t, topic)
	ctx := e2eCtx(t)
	to1, to2 := pinned(cl1), pinned(cl2)
	const rounds = 20
	for r := range rounds {
		first, second := fmt.Sprint(1_000_000+r), fmt.Sprint(2_000_000+r)
		if err := incSet(ctx, to1, topic, topicconfig.RetentionMs, first); err != nil {
			t.Fatalf("round %d: SET %s through broker 1: %v", r, topicconfig.RetentionMs, err)
		}
		if err := incSet(ctx, to2, topic, topicconfig.SegmentMs, second); err != nil {
			t.Fatalf("round %d: SET %s through broker 2: %v", r, topicconfig.SegmentMs, err)
		}
		want := map[string]string{topicconfig.RetentionMs: first, topicconfig.SegmentMs: second}
		if got := storedConfigs(t, st, topic); !maps.Equal(got, want) {
			t.Fatalf("round %d: stored configs %v, want %v", r, got, want)
		}
	}
}
