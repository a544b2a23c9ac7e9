package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Topic admin. Every broker runs the same code: a request is validated
// against this broker's Image, written to the backend (the single source of
// truth; concurrent requests on several brokers are ordered there), and
// answered once this broker's Image includes the write, so that the
// client's next request to this broker already sees it (read-your-writes).
//
// Writes that fail with metadata.ErrUnavailable are retried within ctx
// (each attempt bounded by Config.CallTimeout); a retried write whose
// earlier attempt may have committed is recognised (same topic id, same
// partition count) instead of failing.

// MaxTopicNameLength is the longest topic name Kafka accepts.
const MaxTopicNameLength = 249

// ValidateTopicName checks Kafka's topic name rules: 1 to 249 characters,
// each an ASCII letter, digit, '.', '_' or '-', and not "." or "..". The
// error wraps ErrInvalidTopic.
func ValidateTopicName(name string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("cluster: %s: %w", fmt.Sprintf(format, args...), ErrInvalidTopic)
	}
	switch {
	case name == "":
		return bad("topic name is empty")
	case name == "." || name == "..":
		return bad("topic name cannot be %q", name)
	case len(name) > MaxTopicNameLength:
		return bad("topic name is %d characters long, the limit is %d", len(name), MaxTopicNameLength)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return bad("topic name %q contains %q; only ASCII letters, digits, '.', '_' and '-' are allowed", name, c)
		}
	}
	return nil
}

// CreateTopic creates a topic through the backend and returns it once this
// broker's Image includes it.
//
// Without assignment, the topic gets numPartitions (> 0) partitions of
// replicationFactor (1 to the number of live brokers) replicas each,
// placed round-robin over the live brokers from a random start (rack-aware
// when brokers have racks, see assignReplicas). With a non-empty
// assignment (partition -> replica broker ids; partitions 0..n-1, every
// list of the same length, distinct ids of registered brokers),
// numPartitions and replicationFactor must both be -1, as in Kafka's
// CreateTopics. The leader of each partition is its first live replica and
// the ISR its live replicas (all of them without a manual assignment). The
// topic id is a new random UUID; configs are stored as given (the caller
// validates config names and values).
//
// Errors: ErrInvalidTopic (name rules, or a name that differs from an
// existing one only by '.' versus '_'), ErrInvalidPartitions,
// ErrInvalidReplicationFactor, ErrInvalidReplicaAssignment,
// ErrInvalidRequest, ErrTopicExists; metadata.ErrUnavailable when the
// backend cannot commit by ctx's deadline (the topic may still be created);
// if the topic was created but this broker's Image did not catch up before
// ctx ended, the topic is returned together with an error wrapping ctx's
// error. Safe for concurrent use; of concurrent creations of one name on
// any brokers exactly one succeeds.
func (c *Cluster) CreateTopic(ctx context.Context, name string, numPartitions int32, replicationFactor int16, assignment map[int32][]int32, configs map[string]string) (metadata.Topic, error) {
	spec, err := c.planTopicFresh(ctx, name, numPartitions, replicationFactor, assignment, configs)
	if err != nil {
		return metadata.Topic{}, err
	}
	spec.ID = randomUUID()
	var t metadata.Topic
	retried, err := c.write(ctx, func(ctx context.Context) error {
		var err error
		t, err = c.backend.CreateTopic(ctx, spec)
		return err
	})
	switch {
	case err == nil:
	case errors.Is(err, metadata.ErrTopicExists) && retried && c.ours(ctx, spec, &t):
		// An earlier attempt committed.
	case errors.Is(err, metadata.ErrTopicExists):
		return metadata.Topic{}, fmt.Errorf("cluster: create topic %q: %w", name, ErrTopicExists)
	default:
		return metadata.Topic{}, fmt.Errorf("cluster: create topic %q: %w", name, err)
	}
	if _, err := c.waitImage(ctx, fmt.Sprintf("topic %q", name), func(img *Image) bool {
		return img.rev >= t.CreatedAt && t.CreatedAt > 0 || hasTopicID(img, name, t.ID)
	}); err != nil {
		return t, fmt.Errorf("cluster: topic %q created: %w", name, err)
	}
	return t, nil
}

// ValidateCreateTopic checks a CreateTopic request against the current
// Image without creating anything (CreateTopics with validate_only) and
// returns the topic it would create: the replica placement is one
// CreateTopic could choose, and the id is zero. It returns the errors
// CreateTopic returns for invalid requests, ErrTopicExists if the topic
// exists (it plans against an Image at or after a linearizable Snapshot,
// so a topic created through another broker a moment ago counts), and
// the barrier's error (metadata.ErrUnavailable, ctx's error) when the
// backend cannot answer.
func (c *Cluster) ValidateCreateTopic(ctx context.Context, name string, numPartitions int32, replicationFactor int16, assignment map[int32][]int32, configs map[string]string) (metadata.TopicSpec, error) {
	if err := ValidateTopicName(name); err != nil {
		return metadata.TopicSpec{}, err
	}
	if err := c.barrier(ctx); err != nil {
		return metadata.TopicSpec{}, fmt.Errorf("cluster: create topic %q: %w", name, err)
	}
	return c.planTopic(c.Image(), name, numPartitions, replicationFactor, assignment, configs)
}

// planTopicFresh plans a creation (planTopic) against this broker's Image
// and, when the Image refuses it for what it holds (the topic exists, too
// few live brokers, a replica that is not registered: the Image may be
// behind the backend, e.g. brokers that registered or a topic deleted
// through another broker a moment ago), once more against an Image at or
// after a linearizable Snapshot, as Kafka's controller, which has every
// registration, would decide.
func (c *Cluster) planTopicFresh(ctx context.Context, name string, numPartitions int32, rf int16, assignment map[int32][]int32, configs map[string]string) (metadata.TopicSpec, error) {
	img, err := c.firstImage(ctx)
	if err != nil {
		return metadata.TopicSpec{}, err
	}
	spec, err := c.planTopic(img, name, numPartitions, rf, assignment, configs)
	var stale imageRefusal
	if !errors.As(err, &stale) {
		return spec, err
	}
	if berr := c.barrier(ctx); berr != nil {
		return metadata.TopicSpec{}, fmt.Errorf("cluster: create topic %q: %w", name, berr)
	}
	return c.planTopic(c.Image(), name, numPartitions, rf, assignment, configs)
}

// imageRefusal wraps an error of planTopic that comes from what the Image
// holds rather than from the request alone, so that a newer Image may not
// refuse.
type imageRefusal struct{ err error }

func (e imageRefusal) Error() string { return e.err.Error() }
func (e imageRefusal) Unwrap() error { return e.err }

// planTopic validates a creation against img and places its replicas.
// Refusals that depend on img wrap imageRefusal.
func (c *Cluster) planTopic(img *Image, name string, numPartitions int32, rf int16, assignment map[int32][]int32, configs map[string]string) (metadata.TopicSpec, error) {
	if err := ValidateTopicName(name); err != nil {
		return metadata.TopicSpec{}, err
	}
	if _, ok := img.Topic(name); ok {
		return metadata.TopicSpec{}, imageRefusal{fmt.Errorf("cluster: create topic %q: %w", name, ErrTopicExists)}
	}
	if other, ok := collision(img, name); ok {
		return metadata.TopicSpec{}, imageRefusal{fmt.Errorf("cluster: topic %q collides with existing topic %q ('.' and '_' clash in metric names): %w", name, other, ErrInvalidTopic)}
	}
	spec := metadata.TopicSpec{Name: name, Configs: maps.Clone(configs)}
	if len(assignment) > 0 {
		if numPartitions != -1 || rf != -1 {
			return metadata.TopicSpec{}, fmt.Errorf("cluster: create topic %q: a replica assignment was given together with %d partitions and replication factor %d; both must be -1: %w",
				name, numPartitions, rf, ErrInvalidRequest)
		}
		if n := len(assignment); n > int(c.cfg.MaxPartitionsPerTopic) {
			return metadata.TopicSpec{}, fmt.Errorf("cluster: create topic %q: %d partitions, the limit is %d: %w", name, n, c.cfg.MaxPartitionsPerTopic, ErrInvalidPartitions)
		}
		parts := make([][]int32, len(assignment))
		for p := range parts {
			r, ok := assignment[int32(p)]
			if !ok {
				return metadata.TopicSpec{}, fmt.Errorf("cluster: create topic %q: the assignment's partitions must be numbered 0 to %d, %d is missing: %w",
					name, len(assignment)-1, p, ErrInvalidReplicaAssignment)
			}
			parts[p] = r
		}
		specs, err := manualSpecs(img, name, 0, -1, parts)
		if err != nil {
			// Most refusals are about brokers the Image may not have yet.
			return metadata.TopicSpec{}, imageRefusal{err}
		}
		spec.Partitions = specs
		return spec, nil
	}
	switch {
	case numPartitions <= 0:
		return metadata.TopicSpec{}, fmt.Errorf("cluster: create topic %q: number of partitions %d must be larger than 0: %w", name, numPartitions, ErrInvalidPartitions)
	case numPartitions > c.cfg.MaxPartitionsPerTopic:
		return metadata.TopicSpec{}, fmt.Errorf("cluster: create topic %q: %d partitions, the limit is %d: %w", name, numPartitions, c.cfg.MaxPartitionsPerTopic, ErrInvalidPartitions)
	case rf <= 0:
		return metadata.TopicSpec{}, fmt.Errorf("cluster: create topic %q: replication factor %d must be larger than 0: %w", name, rf, ErrInvalidReplicationFactor)
	case int(rf) > len(img.live):
		return metadata.TopicSpec{}, imageRefusal{fmt.Errorf("cluster: create topic %q: replication factor %d larger than the %d live brokers: %w", name, rf, len(img.live), ErrInvalidReplicationFactor)}
	}
	nb := len(img.live)
	spec.Partitions = autoSpecs(assignReplicas(img.live, int(numPartitions), int(rf), 0, rand.IntN(nb), rand.IntN(nb)))
	return spec, nil
}

// autoSpecs turns placed replicas of live brokers into partition specs:
// leader the first replica, every replica in sync.
func autoSpecs(placed [][]int32) []metadata.PartitionSpec {
	specs := make([]metadata.PartitionSpec, len(placed))
	for i, r := range placed {
		specs[i] = metadata.PartitionSpec{Replicas: r, Leader: r[0], ISR: slices.Clone(r)}
	}
	return specs
}

// manualSpecs validates a manual assignment for partitions first,
// first+1, ... of topic and turns it into specs: every list non-empty, of
// length rf (-1: the length of the first list), with distinct ids of
// registered brokers of which at least one is live. Leader: the first live
// replica; ISR: the live replicas.
func manualSpecs(img *Image, topic string, first int, rf int, parts [][]int32) ([]metadata.PartitionSpec, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("cluster: topic %q: %s: %w", topic, fmt.Sprintf(format, args...), ErrInvalidReplicaAssignment)
	}
	specs := make([]metadata.PartitionSpec, len(parts))
	for i, replicas := range parts {
		p := first + i
		if len(replicas) == 0 {
			return nil, bad("partition %d has an empty replica list", p)
		}
		if len(replicas) > len(img.brokers) {
			// Some id repeats or is unknown; refuse before the quadratic
			// duplicate check.
			return nil, bad("partition %d lists %d replicas, but only %d brokers are registered", p, len(replicas), len(img.brokers))
		}
		if rf < 0 {
			rf = len(replicas)
		}
		if len(replicas) != rf {
			return nil, bad("partition %d has %d replicas, other partitions have %d; all must have the same number", p, len(replicas), rf)
		}
		var isr []int32
		for j, id := range replicas {
			if slices.Contains(replicas[:j], id) {
				return nil, bad("partition %d lists broker %d twice", p, id)
			}
			if _, ok := img.Broker(id); !ok {
				return nil, bad("partition %d names broker %d, which is not registered", p, id)
			}
			if img.IsLive(id) {
				isr = append(isr, id)
			}
		}
		if len(isr) == 0 {
			return nil, bad("every replica of partition %d (%v) is fenced", p, replicas)
		}
		specs[i] = metadata.PartitionSpec{Replicas: slices.Clone(replicas), Leader: isr[0], ISR: isr}
	}
	return specs, nil
}

// collision returns an existing topic whose name equals name once '.' and
// '_' are unified (Kafka refuses such pairs: their metric names clash).
func collision(img *Image, name string) (string, bool) {
	if !strings.ContainsAny(name, "._") {
		return "", false
	}
	unify := func(s string) string { return strings.ReplaceAll(s, ".", "_") }
	u := unify(name)
	for _, other := range img.names {
		if other != name && strings.ContainsAny(other, "._") && unify(other) == u {
			return other, true
		}
	}
	return "", false
}

// ours reports whether the topic named spec.Name that the backend says
// exists is the one spec created (an attempt that failed with
// ErrUnavailable had committed), and if so stores it in t. The backend may
// return the existing topic with ErrTopicExists; otherwise a linearizable
// Snapshot tells.
func (c *Cluster) ours(ctx context.Context, spec metadata.TopicSpec, t *metadata.Topic) bool {
	if t.Name == spec.Name && !t.ID.IsZero() {
		return t.ID == spec.ID
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	st, err := c.backend.Snapshot(cctx)
	if err != nil {
		return false
	}
	cur, ok := st.Topics[spec.Name]
	if !ok || cur.ID != spec.ID {
		return false
	}
	*t = cur
	return true
}

// hasTopicID reports whether img has the topic name with this id.
func hasTopicID(img *Image, name string, id metadata.TopicID) bool {
	t, ok := img.Topic(name)
	return ok && t.ID == id
}

// DeleteTopic deletes the topic through the backend and returns once this
// broker's Image no longer has it. ErrUnknownTopic if it does not exist;
// metadata.ErrUnavailable when the backend cannot commit by ctx's deadline;
// ctx's error (wrapped) if the Image did not catch up before ctx ended (the
// topic is deleted). A retried deletion whose earlier attempt committed
// succeeds.
func (c *Cluster) DeleteTopic(ctx context.Context, name string) error {
	img, err := c.firstImage(ctx)
	if err != nil {
		return err
	}
	old, had := img.Topic(name)
	retried, err := c.write(ctx, func(ctx context.Context) error { return c.backend.DeleteTopic(ctx, name) })
	switch {
	case err == nil:
	case errors.Is(err, metadata.ErrUnknownTopic) && retried:
		// An earlier attempt committed (or another broker deleted it).
	case errors.Is(err, metadata.ErrUnknownTopic):
		return fmt.Errorf("cluster: delete topic %q: %w", name, ErrUnknownTopic)
	default:
		return fmt.Errorf("cluster: delete topic %q: %w", name, err)
	}
	if _, err := c.waitImage(ctx, fmt.Sprintf("deletion of topic %q", name), func(img *Image) bool {
		t, ok := img.Topic(name)
		return !ok || had && t.ID != old.ID
	}); err != nil {
		return fmt.Errorf("cluster: topic %q deleted: %w", name, err)
	}
	return nil
}

// CreatePartitions grows the topic to newTotal partitions (Kafka's
// CreatePartitions) and returns it once this broker's Image has them.
// assignment, when non-nil, gives the replicas of each new partition
// (newTotal minus the current count lists, each as long as the topic's
// replication factor, of distinct registered brokers); otherwise the new
// partitions are placed like CreateTopic's, continuing the topic's
// round-robin. It needs a backend with metadata.TopicUpdater (the addition
// is one atomic compare-and-set on the partition count); ErrUnsupported
// otherwise.
//
// Errors: ErrUnknownTopic, ErrInvalidPartitions (newTotal not above the
// current count, or above the limit), ErrInvalidReplicationFactor (fewer
// live brokers than the replication factor), ErrInvalidReplicaAssignment,
// ErrUnsupported, metadata.ErrUnavailable; as CreateTopic when the Image
// does not catch up before ctx ends. The request is validated against this
// broker's Image once it caught up with the backend (a linearizable
// Snapshot), so a change just made on another broker counts; a concurrent
// change of the count is noticed by the compare-and-set and the request
// validated again against the new count.
func (c *Cluster) CreatePartitions(ctx context.Context, topic string, newTotal int32, assignment [][]int32) (metadata.Topic, error) {
	return c.createPartitions(ctx, topic, newTotal, assignment, false)
}

// ValidateCreatePartitions checks a CreatePartitions request against the
// current Image without changing anything (validate_only); it returns the
// errors CreatePartitions returns for invalid requests, including
// ErrUnsupported.
func (c *Cluster) ValidateCreatePartitions(ctx context.Context, topic string, newTotal int32, assignment [][]int32) error {
	_, err := c.createPartitions(ctx, topic, newTotal, assignment, true)
	return err
}

func (c *Cluster) createPartitions(ctx context.Context, topic string, newTotal int32, assignment [][]int32, validateOnly bool) (metadata.Topic, error) {
	if _, err := c.firstImage(ctx); err != nil {
		return metadata.Topic{}, err
	}
	u, ok := c.backend.(metadata.TopicUpdater)
	if !ok {
		return metadata.Topic{}, fmt.Errorf("cluster: create partitions of %q: %w", topic, ErrUnsupported)
	}
	// The request is about the current partition count, which another
	// broker may just have changed: validate against an Image that has
	// every write committed before this call.
	if err := c.barrier(ctx); err != nil {
		return metadata.Topic{}, fmt.Errorf("cluster: create partitions of %q: catching up with the backend: %w", topic, err)
	}
	img := c.Image()
	t, ok := img.Topic(topic)
	if !ok {
		return metadata.Topic{}, fmt.Errorf("cluster: create partitions of %q: %w", topic, ErrUnknownTopic)
	}
	retriedAny := false
	const attempts = 3
	for attempt := 1; ; attempt++ {
		parts, err := c.planPartitions(img, t, newTotal, assignment)
		if err != nil {
			if retriedAny && errors.Is(err, ErrInvalidPartitions) && int32(len(t.Partitions)) == newTotal {
				// An attempt that failed with ErrUnavailable had committed.
				return c.awaitPartitions(ctx, t, newTotal)
			}
			return metadata.Topic{}, err
		}
		if validateOnly {
			return metadata.Topic{}, nil
		}
		var res metadata.Topic
		retried, err := c.write(ctx, func(ctx context.Context) error {
			var err error
			res, err = u.AddPartitions(ctx, topic, int32(len(t.Partitions)), parts)
			return err
		})
		retriedAny = retriedAny || retried
		switch {
		case err == nil:
			return c.awaitPartitions(ctx, res, newTotal)
		case errors.Is(err, metadata.ErrUnsupported):
			return metadata.Topic{}, fmt.Errorf("cluster: create partitions of %q: %w", topic, ErrUnsupported)
		case errors.Is(err, metadata.ErrUnknownTopic):
			return metadata.Topic{}, fmt.Errorf("cluster: create partitions of %q: %w", topic, ErrUnknownTopic)
		case errors.Is(err, metadata.ErrStaleEpoch) && attempt < attempts:
			// The count changed since our Image: re-read it and validate
			// again.
			cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
			st, serr := c.backend.Snapshot(cctx)
			cancel()
			if serr != nil {
				return metadata.Topic{}, fmt.Errorf("cluster: create partitions of %q: re-reading the topic after a concurrent change: %w", topic, serr)
			}
			fresh, ok := st.Topics[topic]
			if !ok || fresh.ID != t.ID {
				return metadata.Topic{}, fmt.Errorf("cluster: create partitions of %q: deleted concurrently: %w", topic, ErrUnknownTopic)
			}
			t = fresh
		default:
			return metadata.Topic{}, fmt.Errorf("cluster: create partitions of %q: %w", topic, err)
		}
	}
}

// planPartitions validates growing t to newTotal and places the new
// partitions.
func (c *Cluster) planPartitions(img *Image, t metadata.Topic, newTotal int32, assignment [][]int32) ([]metadata.PartitionSpec, error) {
	cur := int32(len(t.Partitions))
	switch {
	case newTotal == cur:
		return nil, fmt.Errorf("cluster: topic %q already has %d partitions: %w", t.Name, cur, ErrInvalidPartitions)
	case newTotal < cur:
		return nil, fmt.Errorf("cluster: topic %q has %d partitions, more than the requested %d; partitions cannot be removed: %w", t.Name, cur, newTotal, ErrInvalidPartitions)
	case newTotal > c.cfg.MaxPartitionsPerTopic:
		return nil, fmt.Errorf("cluster: topic %q: %d partitions, the limit is %d: %w", t.Name, newTotal, c.cfg.MaxPartitionsPerTopic, ErrInvalidPartitions)
	}
	// The replication factor is partition 0's: during a reassignment, that
	// of its target (Replicas − Removing), the factor the partition is
	// moving to, not the transient full replica set.
	rf := 1
	if cur > 0 {
		rf = len(TargetReplicas(t.Partitions[0]))
	}
	add := int(newTotal - cur)
	if assignment != nil {
		if len(assignment) != add {
			return nil, fmt.Errorf("cluster: topic %q: the assignment lists %d partitions, but %d are being added: %w", t.Name, len(assignment), add, ErrInvalidReplicaAssignment)
		}
		return manualSpecs(img, t.Name, int(cur), rf, assignment)
	}
	if rf > len(img.live) {
		return nil, fmt.Errorf("cluster: topic %q: replication factor %d larger than the %d live brokers: %w", t.Name, rf, len(img.live), ErrInvalidReplicationFactor)
	}
	// Continue the topic's round-robin from its first partition's leader,
	// as Kafka does.
	start := 0
	if cur > 0 && len(t.Partitions[0].Replicas) > 0 {
		lead := t.Partitions[0].Replicas[0]
		if i := slices.IndexFunc(img.live, func(b metadata.Broker) bool { return b.ID >= lead }); i >= 0 {
			start = i
		}
	}
	return autoSpecs(assignReplicas(img.live, add, rf, int(cur), start, rand.IntN(len(img.live)))), nil
}

// awaitPartitions waits until this broker's Image has topic t with at
// least newTotal partitions (or t is gone or replaced) and returns it.
func (c *Cluster) awaitPartitions(ctx context.Context, t metadata.Topic, newTotal int32) (metadata.Topic, error) {
	img, err := c.waitImage(ctx, fmt.Sprintf("%d partitions of topic %q", newTotal, t.Name), func(img *Image) bool {
		cur, ok := img.Topic(t.Name)
		return !ok || cur.ID != t.ID || int32(len(cur.Partitions)) >= newTotal
	})
	if err != nil {
		return t, fmt.Errorf("cluster: partitions of topic %q created: %w", t.Name, err)
	}
	if cur, ok := img.Topic(t.Name); ok && cur.ID == t.ID {
		return cur, nil
	}
	return t, nil
}

// AlterTopicConfigs changes the topic's stored configs by a
// read-modify-write that loses no concurrent change (Kafka's AlterConfigs
// and IncrementalAlterConfigs): change computes the new set from the
// current one (which it must not modify; an error from it is returned as
// it is), and the result is written as a compare-and-set expecting the
// current set (metadata.TopicUpdater.SetTopicConfigs). The current set
// comes from this broker's Image; when the backend answers ErrStaleEpoch
// (another change came first, or the Image was behind) it waits for an
// Image at or after a linearizable Snapshot and tries again until ctx
// ends, so change may run more than once. A topic missing from the Image
// is looked for in such a newer Image too before the call fails. It
// returns the topic once this broker's Image has the change. It needs a
// backend with metadata.TopicUpdater; ErrUnsupported otherwise.
// ErrUnknownTopic if the topic does not exist; metadata.ErrUnavailable
// when the backend cannot commit by ctx's deadline.
func (c *Cluster) AlterTopicConfigs(ctx context.Context, topic string, change func(cur map[string]string) (map[string]string, error)) (metadata.Topic, error) {
	u, ok := c.backend.(metadata.TopicUpdater)
	if !ok {
		return metadata.Topic{}, fmt.Errorf("cluster: alter configs of topic %q: %w", topic, ErrUnsupported)
	}
	cur, err := c.topicFresh(ctx, topic)
	if err != nil {
		return metadata.Topic{}, fmt.Errorf("cluster: alter configs of topic %q: %w", topic, err)
	}
	var t metadata.Topic
	for {
		next, err := change(cur.Configs)
		if err != nil {
			return metadata.Topic{}, err
		}
		_, err = c.write(ctx, func(ctx context.Context) error {
			var err error
			t, err = u.SetTopicConfigs(ctx, topic, cur.Configs, next)
			return err
		})
		if err == nil {
			break
		}
		switch {
		case errors.Is(err, metadata.ErrStaleEpoch):
			// Another change came first, or this broker's Image was
			// behind the backend: read again from an Image that has
			// every committed change, and retry.
			if err := c.barrier(ctx); err != nil {
				return metadata.Topic{}, fmt.Errorf("cluster: alter configs of topic %q: %w", topic, err)
			}
			var ok bool
			if cur, ok = c.Image().Topic(topic); !ok {
				return metadata.Topic{}, fmt.Errorf("cluster: alter configs of topic %q: %w", topic, ErrUnknownTopic)
			}
			continue
		case errors.Is(err, metadata.ErrUnsupported):
			return metadata.Topic{}, fmt.Errorf("cluster: alter configs of topic %q: %w", topic, ErrUnsupported)
		case errors.Is(err, metadata.ErrUnknownTopic):
			return metadata.Topic{}, fmt.Errorf("cluster: alter configs of topic %q: %w", topic, ErrUnknownTopic)
		default:
			return metadata.Topic{}, fmt.Errorf("cluster: alter configs of topic %q: %w", topic, err)
		}
	}
	// The change has no revision to wait for: a linearizable Snapshot
	// taken now is at or after it.
	if err := c.barrier(ctx); err != nil {
		return t, fmt.Errorf("cluster: configs of topic %q altered: %w", topic, err)
	}
	return t, nil
}

// ValidateAlterTopicConfigs runs change on the topic's current stored
// configs, as AlterTopicConfigs would, and changes nothing (validate_only):
// change's error is returned as it is. The topic is looked for as
// AlterTopicConfigs does, so one created through another broker a moment
// ago is found. ErrUnknownTopic if it does not exist.
func (c *Cluster) ValidateAlterTopicConfigs(ctx context.Context, topic string, change func(cur map[string]string) (map[string]string, error)) error {
	cur, err := c.topicFresh(ctx, topic)
	if err != nil {
		return fmt.Errorf("cluster: alter configs of topic %q: %w", topic, err)
	}
	_, err = change(cur.Configs)
	return err
}

// TopicByID returns the topic with this id from this broker's Image or,
// when that Image does not have it (a topic created through another
// broker a moment ago), from an Image at or after a linearizable
// Snapshot. ok is false if neither has it; err is the barrier's error
// (metadata.ErrUnavailable, ctx's error) or ErrNoImage.
func (c *Cluster) TopicByID(ctx context.Context, id metadata.TopicID) (t metadata.Topic, ok bool, err error) {
	img, err := c.firstImage(ctx)
	if err != nil {
		return metadata.Topic{}, false, err
	}
	if t, ok := img.TopicByID(id); ok {
		return t, true, nil
	}
	if err := c.barrier(ctx); err != nil {
		return metadata.Topic{}, false, err
	}
	t, ok = c.Image().TopicByID(id)
	return t, ok, nil
}

// topicFresh returns the topic from this broker's Image or, when that
// Image does not have it (it may be newer than the Image), from an Image
// at or after a linearizable Snapshot. ErrUnknownTopic if neither has it.
func (c *Cluster) topicFresh(ctx context.Context, topic string) (metadata.Topic, error) {
	img, err := c.firstImage(ctx)
	if err != nil {
		return metadata.Topic{}, err
	}
	if t, ok := img.Topic(topic); ok {
		return t, nil
	}
	if err := c.barrier(ctx); err != nil {
		return metadata.Topic{}, err
	}
	if t, ok := c.Image().Topic(topic); ok {
		return t, nil
	}
	return metadata.Topic{}, ErrUnknownTopic
}

// barrier waits until this broker's Image includes every write committed
// before the call.
func (c *Cluster) barrier(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	st, err := c.backend.Snapshot(cctx)
	cancel()
	if err != nil {
		return err
	}
	return c.WaitRevision(ctx, st.Revision)
}

// firstImage returns the current Image, waiting for the first one if
// needed. ErrNoImage (and ctx's error) if none arrives before ctx ends.
func (c *Cluster) firstImage(ctx context.Context) (*Image, error) {
	if c.base.Err() != nil {
		return nil, ErrClosed
	}
	img, err := c.waitImage(ctx, "the first metadata image", func(*Image) bool { return true })
	if err != nil && !errors.Is(err, ErrClosed) {
		return nil, fmt.Errorf("%w: %w", ErrNoImage, err)
	}
	return img, err
}

// write calls f (an idempotent or compare-and-set backend write) until it
// returns anything but metadata.ErrUnavailable or ctx ends, each attempt
// bounded by Config.CallTimeout and the Cluster's life (ErrClosed once the
// Cluster is closed, before any attempt). retried reports
// that an attempt failed with ErrUnavailable, so that an earlier attempt
// may have committed.
func (c *Cluster) write(ctx context.Context, f func(context.Context) error) (retried bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.base, cancel)
	defer stop()
	bo := newBackoff(c.cfg.RetryBackoff, c.cfg.MaxRetryBackoff)
	for {
		if c.base.Err() != nil {
			return retried, ErrClosed
		}
		cctx, cancelCall := context.WithTimeout(ctx, c.cfg.CallTimeout)
		err = f(cctx)
		cancelCall()
		if err == nil || !errors.Is(err, metadata.ErrUnavailable) || ctx.Err() != nil {
			if c.base.Err() != nil && err != nil {
				err = fmt.Errorf("%w: %w", ErrClosed, err)
			}
			return retried, err
		}
		retried = true
		if !sleep(ctx, bo.next()) {
			return retried, err
		}
	}
}
