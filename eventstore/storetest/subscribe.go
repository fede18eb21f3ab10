package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/integrationplatform/onboarding/eventstore"
)

// testSubscribeCatchUpThenLive subscribes after 200 events are stored and
// appends 200 more from another goroutine while the subscription catches
// up. The subscription must deliver all 400 in order, each once.
func testSubscribeCatchUpThenLive(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	prefix := newPrefix()
	const (
		streams        = 4
		eventsPerPhase = 200
		eventsPerBatch = 4
	)

	// appendPhase appends events in batches of eventsPerBatch, round robin
	// over the streams.
	appendPhase := func(ctx context.Context, events []eventstore.EventData) error {
		for i := 0; i < len(events); i += eventsPerBatch {
			stream := fmt.Sprintf("%sproject-%d", prefix, (i/eventsPerBatch)%streams)
			if _, err := store.Append(ctx, stream, eventstore.Any(), events[i:i+eventsPerBatch]...); err != nil {
				return fmt.Errorf("append events %d to %d to %s: %w", i, i+eventsPerBatch-1, stream, err)
			}
		}
		return nil
	}
	stored := newEvents(eventsPerPhase)
	live := newEvents(eventsPerPhase)

	if err := appendPhase(ctx, stored); err != nil {
		t.Fatal(err)
	}
	sub := mustSubscribe(ctx, t, store, eventstore.Start, eventstore.Filter{StreamPrefix: prefix})

	liveDone := make(chan error, 1)
	go func() { liveDone <- appendPhase(ctx, live) }()

	got := nextEvents(ctx, t, sub, 2*eventsPerPhase)
	if err := <-liveDone; err != nil {
		t.Fatalf("live appends: %v", err)
	}
	want := append(dataIDs(stored), dataIDs(live)...)
	checkIDs(t, "subscription events", got, want)
	checkPositionsIncrease(t, "subscription events", got)

	// The subscription must not deliver any event twice, so after the last
	// expected one it waits until the deadline.
	shortCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if extra, err := sub.Next(shortCtx); err == nil {
		t.Fatalf("Next after all %d events returned another event, id %s in stream %s at position %s",
			len(want), extra.ID, extra.StreamID, extra.Position)
	}
}

func testSubscribeFromMiddle(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	stream := newStreamName("project")
	events := newEvents(10)
	for i := 0; i < len(events); i += 2 {
		mustAppend(ctx, t, store, stream, eventstore.Any(), events[i:i+2]...)
	}
	stored := mustReadStream(ctx, t, store, stream, 0, 0)

	// Stores shared with other tests may have other events after the
	// middle position, so filter on this test's stream.
	sub := mustSubscribe(ctx, t, store, stored[4].Position, eventstore.Filter{StreamPrefix: stream})
	got := nextEvents(ctx, t, sub, 5)
	checkIDs(t, "subscription after event 4", got, dataIDs(events[5:]))
	for i, event := range got {
		if event.Position != stored[5+i].Position {
			t.Errorf("subscription event %d has position %s, ReadStream returned %s", i, event.Position, stored[5+i].Position)
		}
	}

	more := newEvents(2)
	mustAppend(ctx, t, store, stream, eventstore.Exact(9), more...)
	checkIDs(t, "subscription events appended after subscribing", nextEvents(ctx, t, sub, 2), dataIDs(more))
}

func testSubscribeFilter(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	prefix := newPrefix()
	appended := appendInterleaved(t, store, prefix)
	var alpha []string
	for _, event := range appended {
		if event.StreamID != prefix+"beta-1" {
			alpha = append(alpha, event.ID)
		}
	}

	sub := mustSubscribe(ctx, t, store, eventstore.Start, eventstore.Filter{StreamPrefix: prefix + "alpha-"})
	checkIDs(t, "subscription to the alpha streams", nextEvents(ctx, t, sub, len(alpha)), alpha)

	mustAppend(ctx, t, store, prefix+"beta-1", eventstore.Any(), newEvents(3)...)
	liveAlpha := newEvent("TestEvent", 0)
	mustAppend(ctx, t, store, prefix+"alpha-1", eventstore.Any(), liveAlpha)
	checkIDs(t, "subscription to the alpha streams after new beta and alpha events",
		nextEvents(ctx, t, sub, 1), []string{liveAlpha.ID})
}

// nextResult is the outcome of a Next call run in another goroutine.
type nextResult struct {
	event eventstore.RecordedEvent
	err   error
}

// startNext calls sub.Next(ctx) in a new goroutine and returns the channel
// that receives its outcome.
func startNext(ctx context.Context, sub eventstore.Subscription) <-chan nextResult {
	result := make(chan nextResult, 1)
	go func() {
		event, err := sub.Next(ctx)
		result <- nextResult{event, err}
	}()
	return result
}

// waitNext waits for the outcome of startNext, failing the test when it
// does not come before the test's deadline.
func waitNext(t *testing.T, what string, result <-chan nextResult) nextResult {
	t.Helper()
	select {
	case r := <-result:
		return r
	case <-time.After(testTimeout):
		t.Fatalf("%s: Next did not return within %s", what, testTimeout)
		return nextResult{}
	}
}

func testSubscriptionClose(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)

	// The prefix matches no stream, so Next waits until Close ends it.
	waiting := mustSubscribe(ctx, t, store, eventstore.Start, eventstore.Filter{StreamPrefix: newPrefix()})
	result := startNext(ctx, waiting)
	if err := waiting.Close(); err != nil {
		t.Errorf("Close failed: %v", err)
	}
	if r := waitNext(t, "Next waiting during Close", result); !errors.Is(r.err, eventstore.ErrClosed) {
		t.Errorf("Next waiting during Close returned event %q and error %v, expected ErrClosed", r.event.ID, r.err)
	}
	if _, err := waiting.Next(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Next after Close returned error %v, expected ErrClosed", err)
	}
	// A second Close must be harmless; its error is not specified.
	_ = waiting.Close()

	// Close also ends a subscription that has stored events left to read.
	stream := newStreamName("project")
	mustAppend(ctx, t, store, stream, eventstore.NoStream(), newEvents(5)...)
	reading := mustSubscribe(ctx, t, store, eventstore.Start, eventstore.Filter{StreamPrefix: stream})
	nextEvents(ctx, t, reading, 1)
	if err := reading.Close(); err != nil {
		t.Errorf("Close with unread events failed: %v", err)
	}
	if event, err := reading.Next(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Next after Close with unread events returned event %q and error %v, expected ErrClosed", event.ID, err)
	}
}

func testSubscriptionContext(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	stream := newStreamName("project")
	sub := mustSubscribe(ctx, t, store, eventstore.Start, eventstore.Filter{StreamPrefix: stream})

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := sub.Next(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a canceled context returned error %v, expected context.Canceled", err)
	}

	waiting, cancel := context.WithCancel(ctx)
	result := startNext(waiting, sub)
	cancel()
	if r := waitNext(t, "Next during cancel", result); !errors.Is(r.err, context.Canceled) {
		t.Errorf("Next whose context was canceled while waiting returned event %q and error %v, expected context.Canceled", r.event.ID, r.err)
	}

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := sub.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next with a 20ms timeout and no events returned error %v, expected context.DeadlineExceeded", err)
	}

	// The subscription outlives the contexts of single Next calls.
	event := newEvent("ProjectCreated", 0)
	mustAppend(ctx, t, store, stream, eventstore.NoStream(), event)
	checkIDs(t, "Next after the canceled calls", nextEvents(ctx, t, sub, 1), []string{event.ID})
}

func testStoreClose(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	stream := newStreamName("project")
	mustAppend(ctx, t, store, stream, eventstore.NoStream(), newEvent("ProjectCreated", 0))

	sub := mustSubscribe(ctx, t, store, eventstore.Start, eventstore.Filter{StreamPrefix: stream})
	nextEvents(ctx, t, sub, 1)
	result := startNext(ctx, sub)

	if err := store.Close(); err != nil {
		t.Fatalf("Close failed: %v", err)
	}
	if r := waitNext(t, "Next waiting during store Close", result); !errors.Is(r.err, eventstore.ErrClosed) {
		t.Errorf("Next waiting during store Close returned event %q and error %v, expected ErrClosed", r.event.ID, r.err)
	}

	if _, err := store.Append(ctx, stream, eventstore.Any(), newEvent("ProjectArchived", 1)); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Append after Close returned error %v, expected ErrClosed", err)
	}
	if _, err := store.ReadStream(ctx, stream, 0, 0); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("ReadStream after Close returned error %v, expected ErrClosed", err)
	}
	if _, err := store.ReadAll(ctx, eventstore.Start, 0, eventstore.Filter{StreamPrefix: stream}); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("ReadAll after Close returned error %v, expected ErrClosed", err)
	}
	if _, err := store.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: stream}); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("SubscribeAll after Close returned error %v, expected ErrClosed", err)
	}
}
