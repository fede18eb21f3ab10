package embedded

import (
	"context"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/integrationplatform/onboarding/eventstore"
)

const (
	// subscriptionBatch is how many matching events a subscription reads in
	// one read transaction.
	subscriptionBatch = 256
	// subscriptionMaxScan caps the events one read transaction scans, so that
	// a filter matching few events does not hold one transaction over all of
	// $all.
	subscriptionMaxScan = 16 * 1024
)

// subscription reads $all in batches from the store. It has no goroutine
// of its own: Next reads the next batch when the previous one is used up,
// and waits for the store's commit signal when it has reached the head.
type subscription struct {
	store  *Store
	filter eventstore.Filter
	// next is the sequence number of the first event not yet scanned.
	next    uint64
	pending []eventstore.RecordedEvent
	// exhausted is true when the subscription started after the largest
	// position, after which no event can come.
	exhausted bool

	done      chan struct{}
	closeOnce sync.Once
}

// SubscribeAll implements eventstore.Store. The subscription's Next is not
// safe for concurrent use, but Close may be called from any goroutine.
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	from, ok := firstSeqAfter(after)
	return &subscription{
		store:     s,
		filter:    filter,
		next:      from,
		exhausted: !ok,
		done:      make(chan struct{}),
	}, nil
}

// Next implements eventstore.Subscription.
func (sub *subscription) Next(ctx context.Context) (eventstore.RecordedEvent, error) {
	for {
		if err := sub.ended(); err != nil {
			return eventstore.RecordedEvent{}, err
		}
		if err := ctx.Err(); err != nil {
			return eventstore.RecordedEvent{}, err
		}
		if len(sub.pending) > 0 {
			event := sub.pending[0]
			sub.pending[0] = eventstore.RecordedEvent{}
			sub.pending = sub.pending[1:]
			return event, nil
		}

		// Take the signal before reading, so that a commit after the read
		// still wakes the wait below.
		signal := sub.store.currentCommitSignal()
		if !sub.exhausted {
			var events []eventstore.RecordedEvent
			var next uint64
			err := sub.store.view(func(tx *bolt.Tx) error {
				var err error
				events, next, err = scanAll(ctx, tx, sub.next, sub.filter, subscriptionBatch, subscriptionMaxScan)
				return err
			})
			if err != nil {
				// sub.next stays, so the next call scans the same events again.
				return eventstore.RecordedEvent{}, err
			}
			from := sub.next
			sub.next = next
			if len(events) > 0 {
				sub.pending = events
				continue
			}
			if next != from {
				// Events were scanned but none matched, and more may follow.
				continue
			}
		}

		select {
		case <-signal:
		case <-ctx.Done():
			return eventstore.RecordedEvent{}, ctx.Err()
		case <-sub.done:
			return eventstore.RecordedEvent{}, eventstore.ErrClosed
		case <-sub.store.done:
			return eventstore.RecordedEvent{}, eventstore.ErrClosed
		}
	}
}

// ended returns eventstore.ErrClosed once the subscription or its store is
// closed.
func (sub *subscription) ended() error {
	select {
	case <-sub.done:
		return eventstore.ErrClosed
	case <-sub.store.done:
		return eventstore.ErrClosed
	default:
		return nil
	}
}

// Close implements eventstore.Subscription.
func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() { close(sub.done) })
	return nil
}
