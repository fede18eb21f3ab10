package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/integrationplatform/onboarding/eventstore"
)

func testAppendExpectedRevisions(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	stream := newStreamName("project")

	steps := []struct {
		expected     eventstore.ExpectedRevision
		events       int
		wantRevision uint64
	}{
		{eventstore.NoStream(), 1, 0},
		{eventstore.Exact(0), 2, 2},
		{eventstore.StreamExists(), 1, 3},
		{eventstore.Any(), 3, 6},
		{eventstore.Exact(6), 1, 7},
	}
	var results []eventstore.AppendResult
	var appended []eventstore.EventData
	for i, step := range steps {
		events := newEvents(step.events)
		result := mustAppend(ctx, t, store, stream, step.expected, events...)
		if result.Revision != step.wantRevision {
			t.Errorf("append %d (expected %s, %d events): result revision is %d, expected %d",
				i, step.expected, step.events, result.Revision, step.wantRevision)
		}
		if i > 0 && !results[i-1].Position.Less(result.Position) {
			t.Errorf("append %d: result position %s is not after position %s of append %d",
				i, result.Position, results[i-1].Position, i-1)
		}
		results = append(results, result)
		appended = append(appended, events...)
	}

	stored := mustReadStream(ctx, t, store, stream, 0, 0)
	checkIDs(t, "ReadStream after the appends", stored, dataIDs(appended))
	for i, event := range stored {
		if event.Revision != uint64(i) {
			t.Errorf("event %d has revision %d, expected %d", i, event.Revision, i)
		}
	}
	checkPositionsIncrease(t, "ReadStream after the appends", stored)
	for i, result := range results {
		last := stored[result.Revision]
		if last.Position != result.Position {
			t.Errorf("append %d: result position is %s, but its last event (revision %d) has position %s",
				i, result.Position, result.Revision, last.Position)
		}
	}

	other := newStreamName("project")
	result := mustAppend(ctx, t, store, other, eventstore.Any(), newEvents(2)...)
	if result.Revision != 1 {
		t.Errorf("append of 2 events with expected any to new stream %s: result revision is %d, expected 1", other, result.Revision)
	}
	if !results[len(results)-1].Position.Less(result.Position) {
		t.Errorf("append to stream %s: result position %s is not after position %s of the earlier append to %s",
			other, result.Position, results[len(results)-1].Position, stream)
	}
}

func testAppendConflicts(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	prefix := newPrefix()
	existing := prefix + "existing"
	missing := prefix + "missing"
	mustAppend(ctx, t, store, existing, eventstore.NoStream(), newEvent("ProjectCreated", 0))

	cases := []struct {
		name        string
		stream      string
		expected    eventstore.ExpectedRevision
		wantCurrent uint64
		wantExists  bool
	}{
		{"no stream on existing stream", existing, eventstore.NoStream(), 0, true},
		{"stream exists on missing stream", missing, eventstore.StreamExists(), 0, false},
		{"exact revision ahead of existing stream", existing, eventstore.Exact(1), 0, true},
		{"exact revision on missing stream", missing, eventstore.Exact(0), 0, false},
	}
	var rejected []eventstore.EventData
	for _, c := range cases {
		events := newEvents(2)
		_, err := store.Append(ctx, c.stream, c.expected, events...)
		conflict := conflictError(t, c.name, err)
		if conflict.Stream != c.stream {
			t.Errorf("%s: conflict stream is %q, expected %q", c.name, conflict.Stream, c.stream)
		}
		if conflict.Expected != c.expected {
			t.Errorf("%s: conflict expected revision is %s, expected %s", c.name, conflict.Expected, c.expected)
		}
		if conflict.Exists != c.wantExists {
			t.Errorf("%s: conflict reports exists %t, expected %t", c.name, conflict.Exists, c.wantExists)
		}
		if c.wantExists && conflict.Current != c.wantCurrent {
			t.Errorf("%s: conflict current revision is %d, expected %d", c.name, conflict.Current, c.wantCurrent)
		}
		rejected = append(rejected, events...)
	}

	stored := mustReadStream(ctx, t, store, existing, 0, 0)
	if len(stored) != 1 {
		t.Errorf("stream %s has %d events after the rejected appends, expected 1", existing, len(stored))
	}
	_, err := store.ReadStream(ctx, missing, 0, 0)
	if !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Errorf("ReadStream of %s after the rejected appends: error is %v, expected ErrStreamNotFound", missing, err)
	}
	all := mustReadAll(ctx, t, store, eventstore.Start, 0, eventstore.Filter{StreamPrefix: prefix})
	if len(all) != 1 {
		t.Errorf("$all has %d events of this test after the rejected appends, expected 1", len(all))
	}

	// A rejected append stores nothing, so its event ids are still free:
	// appending them again must write them, not treat them as a retry.
	result := mustAppend(ctx, t, store, existing, eventstore.Exact(0), rejected...)
	wantRevision := uint64(len(rejected))
	if result.Revision != wantRevision {
		t.Errorf("append of the %d rejected events: result revision is %d, expected %d", len(rejected), result.Revision, wantRevision)
	}
	stored = mustReadStream(ctx, t, store, existing, 1, 0)
	checkIDs(t, "ReadStream after appending the rejected events", stored, dataIDs(rejected))
}

func testIdempotentRetry(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	prefix := newPrefix()
	stream := prefix + "project"
	events := newEvents(3)
	first := mustAppend(ctx, t, store, stream, eventstore.NoStream(), events...)

	// The expected revisions below would all fail for new events, because
	// the stream now exists at revision 2. A retry must still succeed.
	retries := []eventstore.ExpectedRevision{
		eventstore.NoStream(),
		eventstore.Exact(0),
		eventstore.Exact(2),
		eventstore.Any(),
		eventstore.StreamExists(),
	}
	for _, expected := range retries {
		result, err := store.Append(ctx, stream, expected, events...)
		if err != nil {
			t.Fatalf("retry with expected %s failed: %v", expected, err)
		}
		if result != first {
			t.Errorf("retry with expected %s returned %+v, expected the first append's result %+v", expected, result, first)
		}
	}

	later := newEvent("TestEvent", 3)
	mustAppend(ctx, t, store, stream, eventstore.Exact(2), later)
	result, err := store.Append(ctx, stream, eventstore.NoStream(), events...)
	if err != nil {
		t.Fatalf("retry after a later append failed: %v", err)
	}
	if result != first {
		t.Errorf("retry after a later append returned %+v, expected the first append's result %+v", result, first)
	}

	single := newEvent("TestEvent", 4)
	singleResult := mustAppend(ctx, t, store, stream, eventstore.Exact(3), single)
	result, err = store.Append(ctx, stream, eventstore.Exact(3), single)
	if err != nil {
		t.Fatalf("retry of a single-event append failed: %v", err)
	}
	if result != singleResult {
		t.Errorf("retry of a single-event append returned %+v, expected %+v", result, singleResult)
	}

	want := append(dataIDs(events), later.ID, single.ID)
	checkIDs(t, "ReadStream after the retries", mustReadStream(ctx, t, store, stream, 0, 0), want)
	checkIDs(t, "ReadAll after the retries",
		mustReadAll(ctx, t, store, eventstore.Start, 0, eventstore.Filter{StreamPrefix: prefix}), want)
}

// testIdempotentConcurrentRetry appends the same events from several
// goroutines at once, as a client does that retries an append it believes
// timed out.
func testIdempotentConcurrentRetry(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	stream := newStreamName("project")
	events := newEvents(3)

	const appenders = 8
	results := make([]eventstore.AppendResult, appenders)
	errs := make([]error, appenders)
	var wg sync.WaitGroup
	for i := range appenders {
		wg.Go(func() {
			results[i], errs[i] = store.Append(ctx, stream, eventstore.NoStream(), events...)
		})
	}
	wg.Wait()

	for i := range appenders {
		if errs[i] != nil {
			t.Fatalf("appender %d failed: %v", i, errs[i])
		}
		if results[i] != results[0] {
			t.Errorf("appender %d got result %+v, appender 0 got %+v", i, results[i], results[0])
		}
	}
	if results[0].Revision != 2 {
		t.Errorf("result revision is %d, expected 2", results[0].Revision)
	}
	checkIDs(t, "ReadStream after the concurrent appends", mustReadStream(ctx, t, store, stream, 0, 0), dataIDs(events))
}

// appendWithRetry appends event to stream, starting from expected and, on
// each conflict, trying again with the stream's current revision. It
// returns the result and the number of conflicts.
func appendWithRetry(ctx context.Context, store eventstore.Store, stream string, expected eventstore.ExpectedRevision, event eventstore.EventData) (eventstore.AppendResult, int, error) {
	const maxConflicts = 10_000
	for conflicts := 0; ; conflicts++ {
		result, err := store.Append(ctx, stream, expected, event)
		var conflict *eventstore.ConflictError
		if !errors.As(err, &conflict) {
			return result, conflicts, err
		}
		if conflicts == maxConflicts {
			return result, conflicts, err
		}
		expected = eventstore.NoStream()
		if conflict.Exists {
			expected = eventstore.Exact(conflict.Current)
		}
	}
}
