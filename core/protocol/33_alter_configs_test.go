package protocol

import (
	"fmt"
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func alterResource(typ kmsg.ConfigResourceType, name string, kv ...*string) kmsg.AlterConfigsRequestResource {
	rr := kmsg.NewAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = typ, name
	for i := 0; i+1 < len(kv); i += 2 {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = *kv[i], kv[i+1]
		rr.Configs = append(rr.Configs, c)
	}
	return rr
}

func alterConfigsReq(v int16, validateOnly bool, resources ...kmsg.AlterConfigsRequestResource) *kmsg.AlterConfigsRequest {
	req := kmsg.NewPtrAlterConfigsRequest()
	req.Version, req.ValidateOnly, req.Resources = v, validateOnly, resources
	return req
}

// TestAlterConfigsEveryVersion: each version replaces the topic's whole
// config set through the backend; configs left out return to the default.
func TestAlterConfigsEveryVersion(t *testing.T) {
	_, b := oneBroker(t)
	for v := int16(0); v <= 2; v++ {
		name := fmt.Sprintf("altered-v%d", v)
		mustCreateTopic(t, b, name, 1, 1, nil, map[string]string{"retention.ms": "1000", "segment.bytes": "1048576"})
		resp := roundTrip[*kmsg.AlterConfigsResponse](t, b, alterConfigsReq(v, false,
			alterResource(kmsg.ConfigResourceTypeTopic, name, strp("retention.ms"), strp("2000"), strp("max.message.bytes"), strp("4096"), strp("min.insync.replicas"), nil)))
		if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 || resp.Resources[0].ResourceName != name {
			t.Fatalf("v%d: %+v", v, resp.Resources)
		}
		tp, _ := b.Cluster.Image().Topic(name)
		if want := map[string]string{"retention.ms": "2000", "max.message.bytes": "4096"}; !maps.Equal(tp.Configs, want) {
			t.Fatalf("v%d: configs %v, want %v", v, tp.Configs, want)
		}
	}
}

// TestAlterConfigsRefusals: validate_only, bad configs, unknown topics,
// broker resources and duplicates.
func TestAlterConfigsRefusals(t *testing.T) {
	_, b := oneBroker(t)
	mustCreateTopic(t, b, "kept", 1, 1, nil, map[string]string{"retention.ms": "1000"})
	topic := kmsg.ConfigResourceTypeTopic
	broker := kmsg.ConfigResourceTypeBroker
	resp := roundTrip[*kmsg.AlterConfigsResponse](t, b, alterConfigsReq(2, false,
		alterResource(topic, "kept", strp("retention.ms"), strp("forever")),
		alterResource(topic, "missing", strp("retention.ms"), strp("1")),
		alterResource(topic, "bad name", strp("retention.ms"), strp("1")),
		alterResource(broker, "1", strp("log.retention.ms"), strp("1")),
		alterResource(broker, "", strp("num.partitions"), strp("3")),
		alterResource(broker, "2", strp("num.partitions"), strp("3")),
		alterResource(kmsg.ConfigResourceTypeBrokerLogger, "1", strp("kafka"), strp("DEBUG")),
		alterResource(topic, "twice"),
		alterResource(topic, "twice"),
	))
	want := []struct {
		name string
		code int16
	}{
		{"kept", kerr.InvalidConfig.Code},
		{"missing", kerr.UnknownTopicOrPartition.Code},
		{"bad name", kerr.InvalidTopicException.Code},
		{"1", kerr.InvalidRequest.Code},
		{"", kerr.InvalidRequest.Code},
		{"2", kerr.InvalidRequest.Code},
		{"1", kerr.InvalidRequest.Code},
		{"twice", kerr.InvalidRequest.Code},
	}
	if len(resp.Resources) != len(want) {
		t.Fatalf("%d answers, want %d", len(resp.Resources), len(want))
	}
	for i, w := range want {
		got := resp.Resources[i]
		if got.ResourceName != w.name || got.ErrorCode != w.code || (got.ErrorCode != 0) != (got.ErrorMessage != nil) {
			t.Fatalf("answer %d: %q %d %v, want %q %d", i, got.ResourceName, got.ErrorCode, got.ErrorMessage, w.name, w.code)
		}
	}

	// A broker resource with nothing to change is a no-op.
	resp = roundTrip[*kmsg.AlterConfigsResponse](t, b, alterConfigsReq(0, false, alterResource(broker, "1")))
	if resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("empty broker alteration answered %d", resp.Resources[0].ErrorCode)
	}

	// An unknown config name, and validate_only.
	resp = roundTrip[*kmsg.AlterConfigsResponse](t, b, alterConfigsReq(1, true,
		alterResource(topic, "kept", strp("compression.type"), strp("zstd")),
		alterResource(kmsg.ConfigResourceTypeTopic, "kept", strp("retention.ms"), strp("5")),
	))
	if resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
		// The same resource twice is a duplicate first of all.
		t.Fatalf("duplicate resource answered %d", resp.Resources[0].ErrorCode)
	}
	resp = roundTrip[*kmsg.AlterConfigsResponse](t, b, alterConfigsReq(1, true, alterResource(topic, "kept", strp("compression.type"), strp("zstd"))))
	if resp.Resources[0].ErrorCode != kerr.InvalidConfig.Code {
		t.Fatalf("unknown config answered %d", resp.Resources[0].ErrorCode)
	}
	resp = roundTrip[*kmsg.AlterConfigsResponse](t, b, alterConfigsReq(1, true, alterResource(topic, "kept", strp("retention.ms"), strp("5"))))
	if resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("validate_only answered %d", resp.Resources[0].ErrorCode)
	}
	if tp, _ := b.Cluster.Image().Topic("kept"); tp.Configs["retention.ms"] != "1000" {
		t.Fatalf("a refused or validate-only request changed the configs: %v", tp.Configs)
	}
}

// TestAlterConfigsUnsupportedBackend: a backend without topic updates is
// answered honestly.
func TestAlterConfigsUnsupportedBackend(t *testing.T) {
	st := harnessStore(t)
	b := harnessBroker(t, 1, harnessCluster(t, noTopicUpdates{st}, 1, "", true))
	mustCreateTopic(t, b, "fixed", 1, 1, nil, nil)
	resp := roundTrip[*kmsg.AlterConfigsResponse](t, b, alterConfigsReq(2, false, alterResource(kmsg.ConfigResourceTypeTopic, "fixed", strp("retention.ms"), strp("5"))))
	if got := resp.Resources[0]; got.ErrorCode != kerr.UnsupportedVersion.Code || got.ErrorMessage == nil {
		t.Fatalf("answered %+v", got)
	}
}
