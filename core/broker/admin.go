package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// The admin endpoints on the HTTP port reach the metadata backend's own
// quorum (metadata.Membership, e.g. the Raft voters):
//
//	GET    /v1/metadata            Info of this node's backend (leader, members, capabilities)
//	POST   /v1/metadata/members    {"id":"4","address":"10.0.0.4:9093","voter":true}
//	DELETE /v1/metadata/members/{id}
//
// and GET /v1/cluster answers this broker's view of the cluster (its
// watch-fed metadata image) as a ClusterStatus: every registered broker
// with its state and epoch, and the partitions without a live leader.
//
// Errors answer a JSON {"error": "..."} with 400 (bad input), 501 (the
// backend has no run-time membership), 503 (no quorum) or 500.

const adminTimeout = 30 * time.Second

func (b *Broker) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/metadata", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
		defer cancel()
		info, err := b.backend.Info(ctx)
		if err != nil {
			writeAdminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("GET /v1/cluster", func(w http.ResponseWriter, _ *http.Request) {
		st, ok := b.clusterStatus()
		if !ok {
			writeAdminError(w, fmt.Errorf("%w: broker %d has not loaded its first metadata image yet", metadata.ErrUnavailable, b.cfg.BrokerID))
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /v1/metadata/members", func(w http.ResponseWriter, r *http.Request) {
		var m metadata.Member
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			writeAdminError(w, fmt.Errorf("%w: member: %v", metadata.ErrInvalid, err))
			return
		}
		if m.ID == "" || m.Address == "" {
			writeAdminError(w, fmt.Errorf("%w: member needs an id and an address", metadata.ErrInvalid))
			return
		}
		mem, ok := b.backend.(metadata.Membership)
		if !ok {
			writeAdminError(w, fmt.Errorf("%w: run-time membership", metadata.ErrUnsupported))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
		defer cancel()
		if err := mem.AddMember(ctx, m); err != nil {
			writeAdminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"added": m.ID})
	})
	mux.HandleFunc("DELETE /v1/metadata/members/{id}", func(w http.ResponseWriter, r *http.Request) {
		mem, ok := b.backend.(metadata.Membership)
		if !ok {
			writeAdminError(w, fmt.Errorf("%w: run-time membership", metadata.ErrUnsupported))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
		defer cancel()
		id := r.PathValue("id")
		if err := mem.RemoveMember(ctx, id); err != nil {
			writeAdminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"removed": id})
	})
}

// ClusterStatus is the answer of GET /v1/cluster: the cluster as one
// broker's metadata image shows it at one revision. It is a read of an
// immutable image, so its parts are consistent with each other.
type ClusterStatus struct {
	// BrokerID is the broker that answered.
	BrokerID int32 `json:"broker_id"`
	// Ready is that broker's /readyz: registered and in its own image.
	Ready bool `json:"ready"`
	// Revision is the backend revision of the image.
	Revision int64 `json:"revision"`
	// ControllerID is the controller Metadata names (-1: no live broker).
	ControllerID int32 `json:"controller_id"`
	// Brokers are all registered brokers, fenced ones included, by id.
	Brokers []BrokerStatus `json:"brokers"`
	// Topics and Partitions count what the image holds.
	Topics     int `json:"topics"`
	Partitions int `json:"partitions"`
	// Offline are the partitions without a live leader (no leader, or a
	// fenced one): clients get LEADER_NOT_AVAILABLE for them. Sorted by
	// topic and partition; never null.
	Offline []OfflinePartition `json:"offline_partitions"`
	// Reassigning are the partitions with a reassignment in progress
	// (AlterPartitionReassignments). Sorted by topic and partition;
	// omitted when there is none.
	Reassigning []ReassigningPartition `json:"reassigning_partitions,omitempty"`
}

// ReassigningPartition is a partition with a reassignment in progress.
type ReassigningPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Leader is the current leader, -1 for none.
	Leader int32 `json:"leader"`
	// Replicas is the full replica set (the target first), ISR the in-sync
	// replicas, Adding and Removing the replicas the reassignment adds and
	// removes.
	Replicas []int32 `json:"replicas"`
	ISR      []int32 `json:"isr"`
	Adding   []int32 `json:"adding"`
	Removing []int32 `json:"removing"`
}

// Broker states of BrokerStatus.State.
const (
	BrokerLive   = "live"
	BrokerFenced = "fenced"
)

// BrokerStatus is one registered broker in a ClusterStatus.
type BrokerStatus struct {
	ID    int32  `json:"id"`
	State string `json:"state"` // BrokerLive or BrokerFenced
	// Epoch is the broker epoch of its (last) session.
	Epoch       int64  `json:"epoch"`
	Incarnation string `json:"incarnation"`
	Rack        string `json:"rack,omitempty"`
	// Listeners are the advertised endpoints, "NAME host:port" each.
	Listeners []ListenerStatus `json:"listeners"`
}

// ListenerStatus is one advertised endpoint of a broker.
type ListenerStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"` // host:port
}

// OfflinePartition is a partition without a live leader.
type OfflinePartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Leader is the recorded leader (fenced or gone), -1 for none.
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	// Adding and Removing: the replicas a reassignment in progress adds
	// and removes; omitted when there is none.
	Adding   []int32 `json:"adding,omitempty"`
	Removing []int32 `json:"removing,omitempty"`
}

// clusterStatus reads the current image; ok is false before the first one.
func (b *Broker) clusterStatus() (ClusterStatus, bool) {
	cl := b.Cluster()
	img := cl.Image()
	if img == nil {
		return ClusterStatus{}, false
	}
	st := ClusterStatus{
		BrokerID:     b.cfg.BrokerID,
		Ready:        cl.Ready(),
		Revision:     int64(img.Revision()),
		ControllerID: img.ControllerID(),
		Brokers:      []BrokerStatus{},
		Offline:      []OfflinePartition{},
	}
	for _, br := range img.Brokers() {
		bs := BrokerStatus{ID: br.ID, State: BrokerLive, Epoch: br.Epoch, Incarnation: br.IncarnationID,
			Rack: br.Rack, Listeners: []ListenerStatus{}}
		if br.Fenced {
			bs.State = BrokerFenced
		}
		for _, l := range br.Listeners {
			bs.Listeners = append(bs.Listeners, ListenerStatus{Name: l.Name,
				Address: net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))})
		}
		st.Brokers = append(st.Brokers, bs)
	}
	for _, name := range img.TopicNames() {
		t, _ := img.Topic(name)
		st.Topics++
		for _, p := range t.Partitions {
			st.Partitions++
			if len(p.Adding) > 0 || len(p.Removing) > 0 {
				st.Reassigning = append(st.Reassigning, ReassigningPartition{Topic: name, Partition: p.Partition, Leader: p.Leader,
					Replicas: append([]int32{}, p.Replicas...), ISR: append([]int32{}, p.ISR...),
					Adding: append([]int32{}, p.Adding...), Removing: append([]int32{}, p.Removing...)})
			}
			if _, ok := img.LiveLeader(p); ok {
				continue
			}
			st.Offline = append(st.Offline, OfflinePartition{Topic: name, Partition: p.Partition,
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: append([]int32{}, p.Replicas...), ISR: append([]int32{}, p.ISR...),
				Adding: slices.Clone(p.Adding), Removing: slices.Clone(p.Removing)})
		}
	}
	return st, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeAdminError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, metadata.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, metadata.ErrUnsupported):
		code = http.StatusNotImplemented
	case errors.Is(err, metadata.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
