package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
