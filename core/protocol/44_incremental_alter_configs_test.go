package protocol

import (
	"fmt"
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/topicconfig"
)

type incOp struct {
	name  string
	op    kmsg.IncrementalAlterConfigOp
	value *string
}

func incResource(typ kmsg.ConfigResourceType, name string, ops ...incOp) kmsg.IncrementalAlterConfigsRequestResource {
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = typ, name
	for _, o := range ops {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = o.name, o.op, o.value
		rr.Configs = append(rr.Configs, c)
	}
	return rr
}

func incReq(v int16, validateOnly bool, resources ...kmsg.IncrementalAlterConfigsRequestResource) *kmsg.IncrementalAlterConfigsRequest {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Version, req.ValidateOnly, req.Resources = v, validateOnly, resources
	return req
}

const (
	opSet      = kmsg.IncrementalAlterConfigOpSet
	opDelete   = kmsg.IncrementalAlterConfigOpDelete
	opAppend   = kmsg.IncrementalAlterConfigOpAppend
	opSubtract = kmsg.IncrementalAlterConfigOpSubtract
)

// TestIncrementalAlterConfigsEveryVersion: SET, DELETE and list APPEND
// apply to the stored configs, written through the backend.
func TestIncrementalAlterConfigsEveryVersion(t *testing.T) {
	_, b := oneBroker(t)
	for v := int16(0); v <= 1; v++ {
		name := fmt.Sprintf("inc-v%d", v)
		mustCreateTopic(t, b, name, 1, 1, nil, map[string]string{"retention.ms": "1000", "segment.bytes": "1048576"})
		resp := roundTrip[*kmsg.IncrementalAlterConfigsResponse](t, b, incReq(v, false, incResource(kmsg.ConfigResourceTypeTopic, name,
			incOp{"retention.ms", opSet, strp("2000")},
			incOp{"segment.bytes", opDelete, nil},
			incOp{"cleanup.policy", opAppend, strp("delete")}, // from the default "delete": unchanged list
			incOp{"message.timestamp.type", opSet, strp("LogAppendTime")},
		)))
		if got := resp.Resources[0]; got.ErrorCode != 0 || got.ResourceName != name {
			t.Fatalf("v%d: %+v", v, got)
		}
		tp, _ := b.Cluster.Image().Topic(name)
		want := map[string]string{"retention.ms": "2000", "cleanup.policy": "delete", "message.timestamp.type": "LogAppendTime"}
		if !maps.Equal(tp.Configs, want) {
			t.Fatalf("v%d: configs %v, want %v", v, tp.Configs, want)
		}
	}
}

// TestIncrementalAlterConfigsRefusals: malformed operations, list
// operations on scalars, values chronik does not apply, validate_only,
// broker resources.
func TestIncrementalAlterConfigsRefusals(t *testing.T) {
	_, b := oneBroker(t)
	mustCreateTopic(t, b, "kept", 1, 1, nil, map[string]string{"retention.ms": "1000"})
	topic := kmsg.ConfigResourceTypeTopic
	cases := []struct {
		res  kmsg.IncrementalAlterConfigsRequestResource
		want int16
	}{
		{incResource(topic, "kept", incOp{"retention.ms", opSet, nil}), kerr.InvalidRequest.Code},
		{incResource(topic, "kept", incOp{"retention.ms", 7, strp("1")}), kerr.InvalidRequest.Code},
		{incResource(topic, "kept", incOp{"retention.ms", opSet, strp("1")}, incOp{"retention.ms", opDelete, nil}), kerr.InvalidRequest.Code},
		{incResource(topic, "kept", incOp{"retention.ms", opAppend, strp("1")}), kerr.InvalidConfig.Code},
		{incResource(topic, "kept", incOp{"cleanup.policy", opAppend, strp("shred")}), kerr.InvalidConfig.Code},
		{incResource(topic, "kept", incOp{"cleanup.policy", opSubtract, strp("delete")}), kerr.InvalidConfig.Code},
		{incResource(topic, "kept", incOp{"compression.type", opSet, strp("zstd")}), kerr.InvalidConfig.Code},
		{incResource(topic, "kept", incOp{"compression.type", opDelete, nil}), kerr.InvalidConfig.Code},
		{incResource(topic, "kept", incOp{"retention.ms", opSet, strp("-7")}), kerr.InvalidConfig.Code},
		{incResource(topic, "missing", incOp{"retention.ms", opSet, strp("1")}), kerr.UnknownTopicOrPartition.Code},
		{incResource(kmsg.ConfigResourceTypeBroker, "1", incOp{"log.retention.ms", opSet, strp("1")}), kerr.InvalidRequest.Code},
		{incResource(kmsg.ConfigResourceTypeBroker, "2"), kerr.InvalidRequest.Code},
		{incResource(kmsg.ConfigResourceTypeBroker, ""), 0},
		{incResource(kmsg.ConfigResourceTypeBrokerLogger, "1", incOp{"kafka", opSet, strp("DEBUG")}), kerr.InvalidRequest.Code},
		{incResource(topic, "kept", incOp{"retention.ms", opSet, strp("5")}), 0}, // validate_only below
	}
	for v := int16(0); v <= 1; v++ {
		for i, c := range cases {
			resp := roundTrip[*kmsg.IncrementalAlterConfigsResponse](t, b, incReq(v, true, c.res))
			got := resp.Resources[0]
			if got.ErrorCode != c.want || (got.ErrorCode != 0) != (got.ErrorMessage != nil) {
				t.Fatalf("v%d case %d: answered %d %v, want %d", v, i, got.ErrorCode, got.ErrorMessage, c.want)
			}
		}
	}
	// The same requests for real: none of the refused ones changes
	// anything either.
	for i, c := range cases[:len(cases)-1] {
		resp := roundTrip[*kmsg.IncrementalAlterConfigsResponse](t, b, incReq(1, false, c.res))
		if got := resp.Resources[0].ErrorCode; got != c.want {
			t.Fatalf("case %d: answered %d, want %d", i, got, c.want)
		}
	}
	if tp, _ := b.Cluster.Image().Topic("kept"); !maps.Equal(tp.Configs, map[string]string{"retention.ms": "1000"}) {
		t.Fatalf("configs changed to %v", tp.Configs)
	}
	dup := incReq(1, false, incResource(topic, "kept"), incResource(topic, "kept"))
	if resp := roundTrip[*kmsg.IncrementalAlterConfigsResponse](t, b, dup); len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("duplicate resource answered %+v", resp.Resources)
	}
}

// TestApplyIncrementalOps: list operations on a stored list and on the
// broker default.
func TestApplyIncrementalOps(t *testing.T) {
	ops := func(o ...incOp) []kmsg.IncrementalAlterConfigsRequestResourceConfig {
		return incResource(kmsg.ConfigResourceTypeTopic, "x", o...).Configs
	}
	defaults := topicconfig.Defaults()
	got, err := applyIncrementalOps(map[string]string{"cleanup.policy": " delete , "}, ops(incOp{"cleanup.policy", opAppend, strp("delete")}), defaults)
	if err != nil || got["cleanup.policy"] != "delete" {
		t.Fatalf("append existing: %v, %v", got, err)
	}
	cur := map[string]string{"retention.ms": "5"}
	got, err = applyIncrementalOps(cur, ops(incOp{"cleanup.policy", opSubtract, strp("delete")}, incOp{"retention.ms", opDelete, nil}), defaults)
	if err != nil || got["cleanup.policy"] != "" || len(got) != 1 || cur["retention.ms"] != "5" {
		t.Fatalf("subtract from the default: %v, %v (input now %v)", got, err, cur)
	}
}
