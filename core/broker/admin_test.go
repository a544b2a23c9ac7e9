package broker

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
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
