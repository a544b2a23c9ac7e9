package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/chronik-go/chronik/core/broker"
)

// TestPrintClusterStatusReassigning: `chronik cluster status` lists the
// partitions being reassigned with their adding and removing replicas,
// and an offline partition's adding/removing ("-" when none); without
// reassignments there is no such section.
func TestPrintClusterStatusReassigning(t *testing.T) {
	st := broker.ClusterStatus{BrokerID: 1, Ready: true, Revision: 9, ControllerID: 1, Topics: 1, Partitions: 2,
		Brokers: []broker.BrokerStatus{{ID: 1, State: broker.BrokerLive, Epoch: 3}},
		Offline: []broker.OfflinePartition{{Topic: "t", Partition: 0, Leader: -1, Replicas: []int32{1}, ISR: []int32{}}},
		Reassigning: []broker.ReassigningPartition{{Topic: "t", Partition: 1, Leader: 1, Replicas: []int32{2, 3, 1},
			ISR: []int32{1, 2}, Adding: []int32{3}, Removing: []int32{1}}}}
	var out bytes.Buffer
	if err := printClusterStatus(&out, st); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"being reassigned: 1", "partitions being reassigned:", "ADDING", "REMOVING"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	var row, offline string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "t" && f[1] == "1":
			row = strings.Join(f, " ")
		case f[0] == "t" && f[1] == "0":
			offline = strings.Join(f, " ")
		}
	}
	if row != "t 1 1 [2 3 1] [1 2] [3] [1]" {
		t.Errorf("reassigning row %q, want %q:\n%s", row, "t 1 1 [2 3 1] [1 2] [3] [1]", text)
	}
	if offline != "t 0 none 0 [1] [] - -" {
		t.Errorf("offline row %q:\n%s", offline, text)
	}
	st.Reassigning = nil
	out.Reset()
	if err := printClusterStatus(&out, st); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "partitions being reassigned:") {
		t.Errorf("a reassignment section without reassignments:\n%s", out.String())
	}
}
