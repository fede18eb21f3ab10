package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/integrationplatform/onboarding/eventstore"
)

// testConcurrentAppends runs 32 appenders at once. Each appends to its own
// stream with Any, and every fourth also appends to one shared stream with
// Exact, retrying on conflicts.
func testConcurrentAppends(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	prefix := newPrefix()
	shared := prefix + "shared"
	const (
		appenders        = 32
		ownAppends       = 8
		sharedEvery      = 4
		sharedAppends    = 4
		sharedAppenders  = appenders / sharedEvery
		sharedEventCount = sharedAppenders * sharedAppends
	)

	ownStreams := make([]string, appenders)
	ownIDs := make([][]string, appenders)
	sharedIDs := make([][]string, appenders)
	var wg sync.WaitGroup
	for a := range appenders {
		ownStreams[a] = fmt.Sprintf("%sown-%02d", prefix, a)
		wg.Go(func() {
			for i := range ownAppends {
				event := newEvent("TestEvent", i)
				if _, err := store.Append(ctx, ownStreams[a], eventstore.Any(), event); err != nil {
					t.Errorf("appender %d: append %d to %s failed: %v", a, i, ownStreams[a], err)
					return
				}
				ownIDs[a] = append(ownIDs[a], event.ID)

				if a%sharedEvery != 0 || i >= sharedAppends {
					continue
				}
				event = newEvent("SharedEvent", i)
				if _, _, err := appendWithRetry(ctx, store, shared, eventstore.NoStream(), event); err != nil {
					t.Errorf("appender %d: append %d to %s failed: %v", a, i, shared, err)
					return
				}
				sharedIDs[a] = append(sharedIDs[a], event.ID)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	for a, stream := range ownStreams {
		events := mustReadStream(ctx, t, store, stream, 0, 0)
		checkIDs(t, "ReadStream of "+stream, events, ownIDs[a])
		checkContiguous(t, stream, events)
	}

	sharedEvents := mustReadStream(ctx, t, store, shared, 0, 0)
	if len(sharedEvents) != sharedEventCount {
		t.Errorf("shared stream has %d events, expected %d", len(sharedEvents), sharedEventCount)
	}
	checkContiguous(t, shared, sharedEvents)
	// Each appender's shared events must be there once and in its order.
	for a, ids := range sharedIDs {
		checkSubsequence(t, fmt.Sprintf("shared stream events of appender %d", a), sharedEvents, ids)
	}

	all := mustReadAll(ctx, t, store, eventstore.Start, 0, eventstore.Filter{StreamPrefix: prefix})
	wantCount := appenders*ownAppends + sharedEventCount
	if len(all) != wantCount {
		t.Errorf("$all has %d events of this test, expected %d", len(all), wantCount)
	}
	checkPositionsIncrease(t, "ReadAll after the concurrent appends", all)
	seen := make(map[string]int, len(all))
	next := make(map[string]uint64)
	for i, event := range all {
		if first, ok := seen[event.ID]; ok {
			t.Errorf("$all has event %s twice, at %d and %d", event.ID, first, i)
		}
		seen[event.ID] = i
		if event.Revision != next[event.StreamID] {
			t.Errorf("$all event %d of stream %s has revision %d, expected %d", i, event.StreamID, event.Revision, next[event.StreamID])
		}
		next[event.StreamID] = event.Revision + 1
	}
}

// checkContiguous checks that events, read from the start of stream, have
// the revisions 0, 1, 2 and so on.
func checkContiguous(t *testing.T, stream string, events []eventstore.RecordedEvent) {
	t.Helper()
	for i, event := range events {
		if event.Revision != uint64(i) {
			t.Errorf("stream %s: event %d has revision %d, expected %d", stream, i, event.Revision, i)
			return
		}
	}
}

// testLargeEvent stores an event with 1 MiB of data.
//
// NOTE: EventStoreDB rejects appends larger than its MaxAppendSize setting,
// which is 1,048,576 bytes by default, so an EventStoreDB server needs a
// larger setting to pass this test.
func testLargeEvent(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	stream := newStreamName("project")

	const size = 1 << 20
	var data bytes.Buffer
	data.WriteString(`{"blob":"`)
	for i := 0; data.Len() < size-2; i++ {
		data.WriteByte("abcdefghijklmnopqrstuvwxyz0123456789"[i%36])
	}
	data.WriteString(`"}`)
	event := eventstore.EventData{
		ID:       uuid.NewString(),
		Type:     "AttachmentUploaded",
		Data:     data.Bytes(),
		Metadata: []byte(`{"contentType":"application/json"}`),
	}
	small := newEvent("TestEvent", 1)
	mustAppend(ctx, t, store, stream, eventstore.NoStream(), event, small)

	checkLarge := func(what string, got eventstore.RecordedEvent) {
		t.Helper()
		if got.ID != event.ID {
			t.Fatalf("%s: event id is %s, expected %s", what, got.ID, event.ID)
		}
		if !bytes.Equal(got.Data, event.Data) {
			t.Errorf("%s: data has %d bytes and differs from the %d bytes appended", what, len(got.Data), len(event.Data))
		}
		if !bytes.Equal(got.Metadata, event.Metadata) {
			t.Errorf("%s: metadata is %q, expected %q", what, got.Metadata, event.Metadata)
		}
	}
	stored := mustReadStream(ctx, t, store, stream, 0, 0)
	checkIDs(t, "ReadStream", stored, []string{event.ID, small.ID})
	checkLarge("ReadStream", stored[0])

	all := mustReadAll(ctx, t, store, eventstore.Start, 0, eventstore.Filter{StreamPrefix: stream})
	checkIDs(t, "ReadAll", all, []string{event.ID, small.ID})
	checkLarge("ReadAll", all[0])

	sub := mustSubscribe(ctx, t, store, eventstore.Start, eventstore.Filter{StreamPrefix: stream})
	checkLarge("subscription", nextEvents(ctx, t, sub, 1)[0])
}

// testManyStreams appends one event to each of 1,000 streams from 16
// goroutines.
func testManyStreams(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	prefix := newPrefix()
	const (
		streams = 1000
		workers = 16
	)

	names := make([]string, streams)
	events := make([]eventstore.EventData, streams)
	for i := range streams {
		names[i] = fmt.Sprintf("%sproject-%04d", prefix, i)
		events[i] = newEvent("ProjectCreated", i)
	}

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < streams; i += workers {
				result, err := store.Append(ctx, names[i], eventstore.NoStream(), events[i])
				if err != nil {
					t.Errorf("append to %s failed: %v", names[i], err)
					return
				}
				if result.Revision != 0 {
					t.Errorf("append to new stream %s: result revision is %d, expected 0", names[i], result.Revision)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	for i, name := range names {
		stored := mustReadStream(ctx, t, store, name, 0, 0)
		checkIDs(t, "ReadStream of "+name, stored, []string{events[i].ID})
	}

	all := mustReadAll(ctx, t, store, eventstore.Start, 0, eventstore.Filter{StreamPrefix: prefix})
	if len(all) != streams {
		t.Fatalf("$all has %d events of this test, expected %d", len(all), streams)
	}
	checkPositionsIncrease(t, "ReadAll of the streams", all)
	seen := make(map[string]bool, streams)
	for _, event := range all {
		if seen[event.StreamID] {
			t.Errorf("$all has two events of stream %s, expected one", event.StreamID)
		}
		seen[event.StreamID] = true
	}
}
