package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestAdminEndpoints(t *testing.T) {
	st := newStore(t)
	b := startBroker(t, 1, st)
	base := "http://" + b.HTTPAddr()

	code, body := httpGet(t, base+"/v1/metadata")
	var info struct{ Name string }
	if code != 200 || json.Unmarshal([]byte(body), &info) != nil || info.Name != "memory" {
		t.Fatalf("GET /v1/metadata = %d %s", code, body)
	}
	// The memory backend has no run-time membership: an honest 501.
	resp, err := http.Post(base+"/v1/metadata/members", "application/json", strings.NewReader(`{"ID":"2","Address":"127.0.0.1:1","Voter":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("POST members on memory = %d, want 501", resp.StatusCode)
	}
	for _, bad := range []string{`{`, `{"ID":"2"}`, `{"Bogus":1}`} {
		resp, err := http.Post(base+"/v1/metadata/members", "application/json", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST members %s = %d, want 400", bad, resp.StatusCode)
		}
	}
}

// TestClusterStatusEndpoint: GET /v1/cluster lists every registered broker
// with its state, epoch and address, and the partitions whose leader is
// fenced, from the broker's own image.
func TestClusterStatusEndpoint(t *testing.T) {
	st := newStore(t) // 2 s sessions
	b := startBroker(t, 1, st)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	// Broker 7 registers and never heartbeats: it is fenced after the
	// session timeout, and the partition it leads goes offline.
	other := st.Node("other")
	reg, err := other.RegisterBroker(ctx, metadata.BrokerRegistration{ID: 7, IncarnationID: "inc-7",
		Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "10.0.0.7", Port: 9097}}, Rack: "r7"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.CreateTopic(ctx, metadata.TopicSpec{Name: "t", ID: metadata.TopicID{1},
		Partitions: []metadata.PartitionSpec{{Replicas: []int32{1}, Leader: 1}, {Replicas: []int32{7}, Leader: 7}}}); err != nil {
		t.Fatal(err)
	}

	get := func() ClusterStatus {
		t.Helper()
		code, body := httpGet(t, "http://"+b.HTTPAddr()+"/v1/cluster")
		var cs ClusterStatus
		if code != 200 || json.Unmarshal([]byte(body), &cs) != nil {
			t.Fatalf("GET /v1/cluster = %d %s", code, body)
		}
		return cs
	}
	var cs ClusterStatus
	for {
		cs = get()
		if len(cs.Brokers) == 2 && cs.Brokers[1].State == BrokerFenced {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("broker 7 never shown fenced: %+v", cs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b1, b7 := cs.Brokers[0], cs.Brokers[1]
	if cs.BrokerID != 1 || !cs.Ready || cs.ControllerID != 1 || cs.Revision <= 0 || cs.Topics != 1 || cs.Partitions != 2 {
		t.Errorf("status header = %+v", cs)
	}
	if b1.ID != 1 || b1.State != BrokerLive || b1.Epoch <= 0 || len(b1.Listeners) != 1 || b1.Listeners[0].Address != b.Addr() {
		t.Errorf("broker 1 = %+v, want live at %s", b1, b.Addr())
	}
	if b7.ID != 7 || b7.Epoch != reg.Epoch || b7.Rack != "r7" || b7.Incarnation != "inc-7" ||
		len(b7.Listeners) != 1 || b7.Listeners[0] != (ListenerStatus{Name: "PLAINTEXT", Address: "10.0.0.7:9097"}) {
		t.Errorf("broker 7 = %+v", b7)
	}
	if len(cs.Offline) != 1 || cs.Offline[0].Topic != "t" || cs.Offline[0].Partition != 1 || cs.Offline[0].Leader != 7 {
		t.Errorf("offline partitions = %+v, want only t/1 led by fenced 7", cs.Offline)
	}
}

// TestClusterStatusWithoutImage: before the first image the answer is a 503,
// never an empty cluster.
func TestClusterStatusWithoutImage(t *testing.T) {
	st := newStore(t)
	_ = st.Close()
	b := startBroker(t, 1, st)
	if code, body := httpGet(t, "http://"+b.HTTPAddr()+"/v1/cluster"); code != http.StatusServiceUnavailable || !strings.Contains(body, "first metadata image") {
		t.Fatalf("GET /v1/cluster without a backend = %d %s, want 503", code, body)
	}
}
