// Package storetest is a conformance suite for eventstore.Store
// implementations. An adapter's test calls Run with a function that opens a
// fresh store.
//
// The tests assume as little as possible about the store, so that they
// also pass on a shared EventStoreDB server. Every stream name is unique to
// one test. Reads of $all either filter by a stream prefix unique to the
// test or start from a position that the test's own append returned.
// Positions are compared only by order, never by value.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/integrationplatform/onboarding/eventstore"
)

// testTimeout bounds each test, so that a store that hangs fails the test
// instead of stalling the run.
const testTimeout = 30 * time.Second

// clockSkew is how far RecordedAt may lie outside the interval in which the
// test called Append. It allows for a store server whose clock differs
// from the test machine's.
const clockSkew = time.Minute

// Run runs the conformance tests as subtests of t. Each subtest calls
// newStore for its own store. newStore registers the cleanup that closes
// the store, and that cleanup must accept a store the test has already
// closed, because the close tests close their store themselves.
//
// Besides the contract documented on eventstore.Store, the suite requires
// that every method of a closed store returns eventstore.ErrClosed, and
// that a subscription stays usable after a Next whose context ended.
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, store eventstore.Store)
	}{
		{"AppendExpectedRevisions", testAppendExpectedRevisions},
		{"AppendConflicts", testAppendConflicts},
		{"IdempotentRetry", testIdempotentRetry},
		{"IdempotentConcurrentRetry", testIdempotentConcurrentRetry},
		{"ReadStream", testReadStream},
		{"ReadStreamRanges", testReadStreamRanges},
		{"ReadAllOrder", testReadAllOrder},
		{"ReadAllAfterAndLimit", testReadAllAfterAndLimit},
		{"ReadAllFilter", testReadAllFilter},
		{"SubscribeCatchUpThenLive", testSubscribeCatchUpThenLive},
		{"SubscribeFromMiddle", testSubscribeFromMiddle},
		{"SubscribeFilter", testSubscribeFilter},
		{"SubscriptionClose", testSubscriptionClose},
		{"SubscriptionContext", testSubscriptionContext},
		{"StoreClose", testStoreClose},
		{"ConcurrentAppends", testConcurrentAppends},
		{"LargeEvent", testLargeEvent},
		{"ManyStreams", testManyStreams},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			test.run(t, newStore(t))
		})
	}
}

// newContext returns a context that ends when the test ends or after
// testTimeout.
func newContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newStreamName returns a stream name that no other test uses, such as
// "project-<uuid>".
func newStreamName(category string) string {
	return category + "-" + uuid.NewString()
}

// newPrefix returns a stream name prefix that no other test uses. Streams
// named with it can be read from $all with a Filter on the prefix.
func newPrefix() string {
	return "storetest-" + uuid.NewString() + "-"
}

// newEvent returns an event with a new id, JSON data that contains n and
// JSON metadata.
func newEvent(eventType string, n int) eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.NewString(),
		Type:     eventType,
		Data:     fmt.Appendf(nil, `{"n":%d}`, n),
		Metadata: fmt.Appendf(nil, `{"correlationId":%q}`, uuid.NewString()),
	}
}

// newEvents returns count events of type "TestEvent" numbered from 0.
func newEvents(count int) []eventstore.EventData {
	events := make([]eventstore.EventData, count)
	for i := range events {
		events[i] = newEvent("TestEvent", i)
	}
	return events
}

func mustAppend(ctx context.Context, t *testing.T, store eventstore.Store, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	result, err := store.Append(ctx, stream, expected, events...)
	if err != nil {
		t.Fatalf("Append(%s, expected %s, %d events) failed: %v", stream, expected, len(events), err)
	}
	return result
}

func mustReadStream(ctx context.Context, t *testing.T, store eventstore.Store, stream string, from uint64, limit int) []eventstore.RecordedEvent {
	t.Helper()
	events, err := store.ReadStream(ctx, stream, from, limit)
	if err != nil {
		t.Fatalf("ReadStream(%s, from %d, limit %d) failed: %v", stream, from, limit, err)
	}
	return events
}

func mustReadAll(ctx context.Context, t *testing.T, store eventstore.Store, after eventstore.Position, limit int, filter eventstore.Filter) []eventstore.RecordedEvent {
	t.Helper()
	events, err := store.ReadAll(ctx, after, limit, filter)
	if err != nil {
		t.Fatalf("ReadAll(after %s, limit %d, prefix %q) failed: %v", after, limit, filter.StreamPrefix, err)
	}
	return events
}

func mustSubscribe(ctx context.Context, t *testing.T, store eventstore.Store, after eventstore.Position, filter eventstore.Filter) eventstore.Subscription {
	t.Helper()
	sub, err := store.SubscribeAll(ctx, after, filter)
	if err != nil {
		t.Fatalf("SubscribeAll(after %s, prefix %q) failed: %v", after, filter.StreamPrefix, err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// nextEvents calls sub.Next count times and returns the events.
func nextEvents(ctx context.Context, t *testing.T, sub eventstore.Subscription, count int) []eventstore.RecordedEvent {
	t.Helper()
	events := make([]eventstore.RecordedEvent, 0, count)
	for len(events) < count {
		event, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d of %d expected events failed: %v", len(events), count, err)
		}
		events = append(events, event)
	}
	return events
}

func dataIDs(events []eventstore.EventData) []string {
	ids := make([]string, len(events))
	for i, event := range events {
		ids[i] = event.ID
	}
	return ids
}

func recordedIDs(events []eventstore.RecordedEvent) []string {
	ids := make([]string, len(events))
	for i, event := range events {
		ids[i] = event.ID
	}
	return ids
}

// checkIDs checks that got has exactly the event ids want, in that order,
// and reports the first difference.
func checkIDs(t *testing.T, what string, got []eventstore.RecordedEvent, want []string) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i].ID != want[i] {
			t.Fatalf("%s: event %d has id %s (stream %s, revision %d), expected %s",
				what, i, got[i].ID, got[i].StreamID, got[i].Revision, want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got %d events, expected %d", what, len(got), len(want))
	}
}

// checkPositionsIncrease checks that each event's position comes after the
// one before it.
func checkPositionsIncrease(t *testing.T, what string, events []eventstore.RecordedEvent) {
	t.Helper()
	for i := 1; i < len(events); i++ {
		if !events[i-1].Position.Less(events[i].Position) {
			t.Fatalf("%s: event %d (id %s) has position %s, not after position %s of event %d (id %s)",
				what, i, events[i].ID, events[i].Position, events[i-1].Position, i-1, events[i-1].ID)
		}
	}
}

// checkSubsequence checks that the events of want appear in got in the
// same order, with any other events between them. It is for reads of $all
// without a filter, which on a shared store contain other tests' events.
func checkSubsequence(t *testing.T, what string, got []eventstore.RecordedEvent, want []string) {
	t.Helper()
	next := 0
	for _, event := range got {
		if next < len(want) && event.ID == want[next] {
			next++
		}
	}
	if next < len(want) {
		t.Fatalf("%s: found %d of the %d expected events in order, then missed id %s",
			what, next, len(want), want[next])
	}
}

// conflictError returns the *eventstore.ConflictError in err or fails the
// test.
func conflictError(t *testing.T, what string, err error) *eventstore.ConflictError {
	t.Helper()
	var conflict *eventstore.ConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("%s: error is %v, expected a *eventstore.ConflictError", what, err)
	}
	return conflict
}
