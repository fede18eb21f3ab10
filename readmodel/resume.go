package readmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/integrationplatform/onboarding/eventstore"
)

// FollowRequest selects the changes Models.Follow sends.
type FollowRequest struct {
	// ProjectID selects one project. Empty selects every project.
	ProjectID string
	// Views attaches the project view after each event. It needs a
	// ProjectID.
	Views bool
	// After, when set, first sends the stored events after this position,
	// then the live ones. When nil, only changes applied after the
	// subscription started are sent.
	After *eventstore.Position
	// CustomerID, when set, selects only the projects of that customer.
	CustomerID string
}

// Follow subscribes to the change feed and calls send with each change, in
// $all order. With req.After set it first sends every stored event after
// that position, read from store, and then switches to live changes with no
// gap and no duplicate at the switch.
//
// It returns nil when the feed closes, ctx.Err() when ctx ends, the error
// of send, an error of store, or ErrSubscriberTooSlow when send fell more
// than SubscriberBuffer live changes behind. A drop during the catch-up is
// not returned: Follow subscribes again and reads the store further.
func (m *Models) Follow(ctx context.Context, store eventstore.Store, codec *eventstore.Codec, req FollowRequest, send func(Change) error) error {
	if req.Views && req.ProjectID == "" {
		return fmt.Errorf("follow changes: views need a project id")
	}
	if req.CustomerID != "" {
		send = m.onlyCustomer(req.CustomerID, send)
	}
	if req.After == nil {
		sub := m.feed.Subscribe(req.ProjectID, req.Views)
		defer sub.Close()
		return followLive(ctx, sub, eventstore.Start, send)
	}

	reader := newCatchUpReader(store, codec, req)
	for {
		sub, upTo := m.subscribeAt(req.ProjectID, req.Views)
		if err := reader.sendUpTo(ctx, upTo, send); err != nil {
			sub.Close()
			return err
		}
		// A subscription dropped while the store was read has lost live
		// changes, but the store holds them, so read further instead of
		// ending.
		if errors.Is(sub.Err(), ErrSubscriberTooSlow) {
			sub.Close()
			continue
		}
		defer sub.Close()
		return followLive(ctx, sub, reader.last, send)
	}
}

// subscribeAt subscribes to the feed and returns the position of the last
// event the models applied before the subscription started. Both happen
// under the models' lock, under which Apply also publishes. So every change
// the subscription receives comes after that position, and every event at
// or before it was applied before.
func (m *Models) subscribeAt(projectID string, views bool) (*Subscription, eventstore.Position) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.feed.Subscribe(projectID, views), m.position
}

// followLive sends the changes of sub that come after last.
func followLive(ctx context.Context, sub *Subscription, last eventstore.Position, send func(Change) error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c, ok := <-sub.C:
			if !ok {
				return sub.Err()
			}
			if !last.Less(c.Envelope.Position) {
				continue
			}
			if err := send(*c); err != nil {
				return err
			}
			last = c.Envelope.Position
		}
	}
}

// catchUpReader reads stored events after a position in steps, each up to
// a position the read models have reached. It skips events that cannot be
// decoded, as the projector does, and with views also events that cannot
// be applied.
//
// NOTE: without views, an event that decodes but that the projector failed
// to apply is sent in the catch-up, although the live feed never sends it.
type catchUpReader struct {
	store eventstore.Store
	codec *eventstore.Codec
	req   FollowRequest
	// last is the position of the last event sent, or req.After.
	last eventstore.Position

	// state and nextRevision replay the project's stream when views are
	// requested, because each view needs every earlier event.
	state        *projectState
	nextRevision uint64
}

func newCatchUpReader(store eventstore.Store, codec *eventstore.Codec, req FollowRequest) *catchUpReader {
	r := &catchUpReader{store: store, codec: codec, req: req, last: *req.After}
	if req.Views {
		r.state = newProjectState(req.ProjectID, 0)
	}
	return r
}

// sendUpTo sends the stored events after r.last up to and including upTo.
func (r *catchUpReader) sendUpTo(ctx context.Context, upTo eventstore.Position, send func(Change) error) error {
	if r.req.Views {
		return r.sendStreamUpTo(ctx, upTo, send)
	}
	return r.sendLogUpTo(ctx, upTo, send)
}

// sendLogUpTo reads $all, filtered to the project streams or to one.
func (r *catchUpReader) sendLogUpTo(ctx context.Context, upTo eventstore.Position, send func(Change) error) error {
	filter := eventstore.Filter{StreamPrefix: eventstore.StreamPrefix}
	stream := ""
	if r.req.ProjectID != "" {
		stream = eventstore.StreamName(r.req.ProjectID)
		filter.StreamPrefix = stream
	}
	for r.last.Less(upTo) {
		records, err := r.store.ReadAll(ctx, r.last, CatchUpBatch, filter)
		if err != nil {
			return fmt.Errorf("catch up: read the log after %s: %w", r.last, err)
		}
		for _, rec := range records {
			if upTo.Less(rec.Position) {
				return nil
			}
			// The prefix "project-<id>" also matches longer ids that start
			// with <id>.
			if stream != "" && rec.StreamID != stream {
				r.last = rec.Position
				continue
			}
			env, err := r.codec.Decode(ctx, rec)
			if eventstore.IsTransient(err) {
				// The client resubscribes from its last position; skipping
				// would leave a gap that the projector does not leave.
				return fmt.Errorf("catch up: decode %s event %s: %w", rec.Type, rec.ID, err)
			}
			r.last = rec.Position
			if err != nil {
				continue
			}
			if err := send(Change{Envelope: env}); err != nil {
				return err
			}
		}
		if len(records) < CatchUpBatch {
			return nil
		}
	}
	return nil
}

// sendStreamUpTo replays the project's stream from its first event and
// sends each event after r.last with the view right after it.
func (r *catchUpReader) sendStreamUpTo(ctx context.Context, upTo eventstore.Position, send func(Change) error) error {
	stream := eventstore.StreamName(r.req.ProjectID)
	for {
		records, err := r.store.ReadStream(ctx, stream, r.nextRevision, CatchUpBatch)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("catch up: read %s from revision %d: %w", stream, r.nextRevision, err)
		}
		for _, rec := range records {
			if upTo.Less(rec.Position) {
				return nil
			}
			env, err := r.codec.Decode(ctx, rec)
			if eventstore.IsTransient(err) {
				return fmt.Errorf("catch up: decode %s event %s: %w", rec.Type, rec.ID, err)
			}
			r.nextRevision = rec.Revision + 1
			if err == nil {
				err = r.state.apply(env)
			}
			if err != nil || !r.last.Less(rec.Position) {
				continue
			}
			r.last = rec.Position
			if err := send(Change{Envelope: env, Project: r.state.view()}); err != nil {
				return err
			}
		}
		if len(records) < CatchUpBatch {
			return nil
		}
	}
}

// onlyCustomer returns a send function that passes on only the changes of
// customerID's projects. A project's customer never changes, so each
// project is looked up once.
func (m *Models) onlyCustomer(customerID string, send func(Change) error) func(Change) error {
	owned := map[string]bool{}
	return func(c Change) error {
		mine, seen := owned[c.Envelope.ProjectID]
		if !seen {
			owner, _ := m.ProjectCustomer(c.Envelope.ProjectID)
			mine = owner == customerID
			owned[c.Envelope.ProjectID] = mine
		}
		if !mine {
			return nil
		}
		return send(c)
	}
}
