package protocol

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// DeleteTopics (key 20): versions 0-6.
//
// Behaviour:
//   - Any broker answers: each topic is deleted through the backend and
//     answered once this broker's metadata image no longer has it.
//   - v0-v5 name topics; v6 names or ids (one of the two per entry: both
//     or neither answer INVALID_REQUEST, as Kafka). An unknown name answers
//     UNKNOWN_TOPIC_OR_PARTITION, an unknown id UNKNOWN_TOPIC_ID; a name or
//     id given twice INVALID_REQUEST ("Duplicate topic name." / "Duplicate
//     topic id."), once; a name and an id of the same topic both
//     INVALID_REQUEST, neither deleted. Ids are resolved with this
//     broker's image, or one with every committed change when it does not
//     know the id (cluster.TopicByID).
//   - timeout_ms bounds the whole request (defaultAdminTimeout when not
//     positive); a topic not done by then answers REQUEST_TIMED_OUT.
//   - v6 answers carry the topic's name and id; error messages from v5.
//
// Version notes: v1 throttle; v4 flexible; v5 error messages; v6 topic
// ids.

func init() {
	Register(API{Key: 20, MinVersion: 0, MaxVersion: 6, Handle: handleDeleteTopics})
}

// deletion is one entry of a DeleteTopics request.
type deletion struct {
	name string
	id   metadata.TopicID
	byID bool
	code int16   // set when refused before deleting
	msg  *string // with code
}

func handleDeleteTopics(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.DeleteTopicsRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: DeleteTopics handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()

	answer := func(d deletion) {
		t := kmsg.NewDeleteTopicsResponseTopic()
		if d.name != "" || !d.byID {
			t.Topic = kmsg.StringPtr(d.name)
		}
		t.TopicID = d.id
		t.ErrorCode, t.ErrorMessage = d.code, d.msg
		if d.code != 0 {
			r.Logger.Debug("DeleteTopics refused a topic", "topic", d.name, "topic_id", metadata.TopicID(d.id).String(), "error_code", d.code)
		}
		resp.Topics = append(resp.Topics, t)
	}

	// The entries, by name or id, with duplicates and malformed ones
	// answered at once.
	var entries []deletion
	if req.Version < 6 {
		for _, name := range req.TopicNames {
			entries = append(entries, deletion{name: name})
		}
	} else {
		for _, rt := range req.Topics {
			switch {
			case rt.Topic != nil && rt.TopicID != [16]byte{}:
				answer(deletion{name: *rt.Topic, id: rt.TopicID, byID: true, code: kerr.InvalidRequest.Code,
					msg: messagef("You may not specify both topic name and topic id.")})
			case rt.Topic != nil:
				entries = append(entries, deletion{name: *rt.Topic})
			case rt.TopicID != [16]byte{}:
				entries = append(entries, deletion{id: rt.TopicID, byID: true})
			default:
				answer(deletion{byID: true, code: kerr.InvalidRequest.Code, msg: messagef("Neither topic name nor id were specified.")})
			}
		}
	}
	names := make(map[string]int)
	ids := make(map[metadata.TopicID]int)
	for _, d := range entries {
		if d.byID {
			ids[d.id]++
		} else {
			names[d.name]++
		}
	}
	img, imgErr := metadataImage(ctx, b)
	done := make(map[deletion]bool)
	for _, d := range entries {
		key := deletion{name: d.name, id: d.id, byID: d.byID}
		if done[key] {
			continue
		}
		done[key] = true
		switch {
		case d.byID && ids[d.id] > 1:
			d.code, d.msg = kerr.InvalidRequest.Code, messagef("Duplicate topic id.")
		case !d.byID && names[d.name] > 1:
			d.code, d.msg = kerr.InvalidRequest.Code, messagef("Duplicate topic name.")
		case imgErr != nil:
			d.code, d.msg = errorCode(imgErr), errorMessage(imgErr)
		case d.byID:
			// A topic created through another broker a moment ago may be
			// newer than this broker's image: Kafka's controller has it.
			t, ok, err := b.Cluster.TopicByID(ctx, d.id)
			switch {
			case err != nil:
				d.code, d.msg = errorCode(err), errorMessage(err)
			case !ok:
				d.code, d.msg = kerr.UnknownTopicID.Code, messagef("no topic has id %s", d.id)
			case names[t.Name] > 0:
				d.name = t.Name
				d.code, d.msg = kerr.InvalidRequest.Code, messagef("The provided topic id maps to topic %q, which the request also names.", t.Name)
			default:
				d.name = t.Name
				d.code, d.msg = deleteTopic(ctx, b, t.Name)
			}
		default:
			t, ok := img.Topic(d.name)
			if ok && req.Version >= 6 {
				d.id = t.ID
			}
			if ok && ids[t.ID] > 0 {
				d.code, d.msg = kerr.InvalidRequest.Code, messagef("The provided topic name maps to an ID that was already supplied.")
				break
			}
			d.code, d.msg = deleteTopic(ctx, b, d.name)
		}
		answer(d)
	}
	return resp, nil
}

// deleteTopic deletes one topic and returns the error code and message to
// answer (0, nil on success).
func deleteTopic(ctx context.Context, b *Broker, name string) (int16, *string) {
	if err := b.Cluster.DeleteTopic(ctx, name); err != nil {
		return errorCode(err), errorMessage(err)
	}
	return 0, nil
}
