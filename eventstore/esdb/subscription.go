package esdb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	kurrent "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/integrationplatform/onboarding/eventstore"
)

// Backoff bounds of resubscribing after a dropped subscription.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// SubscribeAll implements eventstore.Store with a server-side filter on the
// stream prefix. When the subscription drops, it resubscribes from the last
// position it handled (an event or a checkpoint) with capped exponential
// backoff, so Next does not see the drop.
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error) {
	sub := &subscription{store: s, filter: filter, after: after, events: make(chan eventstore.RecordedEvent, 256), stop: make(chan struct{})}
	inner, err := sub.subscribe(ctx)
	if err != nil {
		return nil, err
	}
	sub.wg.Add(1)
	go sub.run(inner)
	return sub, nil
}

type subscription struct {
	store  *Store
	filter eventstore.Filter
	events chan eventstore.RecordedEvent
	stop   chan struct{}
	wg     sync.WaitGroup

	// after is the position of the last event or checkpoint handled; only
	// the run goroutine uses it after SubscribeAll returns.
	after eventstore.Position

	closeOnce sync.Once

	// mu guards err.
	mu  sync.Mutex
	err error
}

func (sub *subscription) subscribe(ctx context.Context) (*kurrent.Subscription, error) {
	client, err := sub.store.currentClient()
	if err != nil {
		return nil, err
	}
	opts := kurrent.SubscribeToAllOptions{From: allPosition(sub.after), CheckpointInterval: 1}
	if sub.filter.StreamPrefix != "" {
		opts.Filter = &kurrent.SubscriptionFilter{Type: kurrent.StreamFilterType, Prefixes: []string{sub.filter.StreamPrefix}}
	} else {
		opts.Filter = kurrent.ExcludeSystemEventsFilter()
	}
	inner, err := client.SubscribeToAll(ctx, opts)
	if err != nil {
		return nil, sub.store.check(client, "subscribe to $all", err)
	}
	return inner, nil
}

// run receives from inner and resubscribes after drops until Close.
func (sub *subscription) run(inner *kurrent.Subscription) {
	defer sub.wg.Done()
	defer close(sub.events)
	log := sub.store.log
	backoff := minBackoff
	for {
		dropped := sub.receive(inner)
		_ = inner.Close()
		if dropped == nil {
			return
		}
		for {
			log.Warn().Err(dropped).Str("position", sub.after.String()).Dur("retry_in", backoff).Msg("EventStoreDB subscription dropped; resubscribing")
			select {
			case <-sub.stop:
				return
			case <-sub.store.done:
				sub.fail(eventstore.ErrClosed)
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxBackoff)
			var err error
			inner, err = sub.subscribe(context.Background())
			if err == nil {
				log.Info().Str("position", sub.after.String()).Msg("EventStoreDB subscription resumed")
				backoff = minBackoff
				break
			}
			if errors.Is(err, eventstore.ErrClosed) {
				sub.fail(err)
				return
			}
			dropped = err
		}
	}
}

// receive forwards events until the subscription drops, returning why, or
// until Close, returning nil.
func (sub *subscription) receive(inner *kurrent.Subscription) error {
	received := make(chan struct{})
	defer close(received)
	go func() {
		select {
		case <-sub.stop:
			_ = inner.Close()
		case <-received:
		}
	}()
	for {
		msg := inner.Recv()
		switch {
		case msg.SubscriptionDropped != nil:
			select {
			case <-sub.stop:
				return nil
			default:
			}
			if msg.SubscriptionDropped.Error != nil {
				return msg.SubscriptionDropped.Error
			}
			return fmt.Errorf("subscription dropped")
		case msg.CheckPointReached != nil:
			p := eventstore.Position{Commit: msg.CheckPointReached.Commit, Prepare: msg.CheckPointReached.Prepare}
			if sub.after.Less(p) {
				sub.after = p
			}
		case msg.CaughtUp != nil:
			sub.store.log.Debug().Str("position", sub.after.String()).Msg("EventStoreDB subscription caught up")
		case msg.EventAppeared != nil:
			e := recorded(msg.EventAppeared)
			// A resubscription from a checkpoint or a repeated delivery may
			// include events already handled.
			if sub.after != eventstore.Start && !sub.after.Less(e.Position) {
				continue
			}
			if !sub.filter.Match(e.StreamID) {
				continue
			}
			select {
			case sub.events <- e:
				sub.after = e.Position
			case <-sub.stop:
				return nil
			}
		}
	}
}

func (sub *subscription) fail(err error) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.err == nil {
		sub.err = err
	}
}

// Next implements eventstore.Subscription.
func (sub *subscription) Next(ctx context.Context) (eventstore.RecordedEvent, error) {
	select {
	case <-sub.stop:
		return eventstore.RecordedEvent{}, eventstore.ErrClosed
	default:
	}
	select {
	case e, ok := <-sub.events:
		if !ok {
			sub.mu.Lock()
			defer sub.mu.Unlock()
			if sub.err != nil {
				return eventstore.RecordedEvent{}, sub.err
			}
			return eventstore.RecordedEvent{}, eventstore.ErrClosed
		}
		return e, nil
	case <-ctx.Done():
		return eventstore.RecordedEvent{}, ctx.Err()
	}
}

// Close implements eventstore.Subscription.
func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() { close(sub.stop) })
	sub.wg.Wait()
	return nil
}
