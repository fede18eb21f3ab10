package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/integrationplatform/onboarding/eventstore"
)

func testReadStream(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	prefix := newPrefix()
	stream := prefix + "project"

	events := []eventstore.EventData{
		newEvent("ProjectCreated", 0),
		newEvent("AnswerSubmitted", 1),
		newEvent("AnswerSubmitted", 2),
		// An event without metadata.
		{ID: uuid.NewString(), Type: "ProjectArchived", Data: []byte(`{"reason":"done"}`)},
	}
	before := time.Now()
	mustAppend(ctx, t, store, stream, eventstore.NoStream(), events[:1]...)
	mustAppend(ctx, t, store, stream, eventstore.Exact(0), events[1:]...)
	after := time.Now()

	stored := mustReadStream(ctx, t, store, stream, 0, 0)
	checkIDs(t, "ReadStream", stored, dataIDs(events))
	for i, event := range stored {
		want := events[i]
		if event.StreamID != stream {
			t.Errorf("event %d: stream is %q, expected %q", i, event.StreamID, stream)
		}
		if event.Type != want.Type {
			t.Errorf("event %d: type is %q, expected %q", i, event.Type, want.Type)
		}
		if event.Revision != uint64(i) {
			t.Errorf("event %d: revision is %d, expected %d", i, event.Revision, i)
		}
		if !bytes.Equal(event.Data, want.Data) {
			t.Errorf("event %d: data is %q, expected %q", i, event.Data, want.Data)
		}
		if !bytes.Equal(event.Metadata, want.Metadata) {
			t.Errorf("event %d: metadata is %q, expected %q", i, event.Metadata, want.Metadata)
		}
		if event.RecordedAt.Before(before.Add(-clockSkew)) || event.RecordedAt.After(after.Add(clockSkew)) {
			t.Errorf("event %d: recorded at %s, expected between %s and %s (the time of the appends, give or take %s)",
				i, event.RecordedAt, before, after, clockSkew)
		}
	}
	checkPositionsIncrease(t, "ReadStream", stored)

	// $all must return the same records.
	all := mustReadAll(ctx, t, store, eventstore.Start, 0, eventstore.Filter{StreamPrefix: prefix})
	checkIDs(t, "ReadAll", all, dataIDs(events))
	for i, event := range all {
		if event.Position != stored[i].Position {
			t.Errorf("event %d: ReadAll position is %s, ReadStream position is %s", i, event.Position, stored[i].Position)
		}
		if !event.RecordedAt.Equal(stored[i].RecordedAt) {
			t.Errorf("event %d: ReadAll RecordedAt is %s, ReadStream RecordedAt is %s", i, event.RecordedAt, stored[i].RecordedAt)
		}
		if event.Revision != stored[i].Revision {
			t.Errorf("event %d: ReadAll revision is %d, ReadStream revision is %d", i, event.Revision, stored[i].Revision)
		}
		if event.Type != stored[i].Type || !bytes.Equal(event.Data, stored[i].Data) || !bytes.Equal(event.Metadata, stored[i].Metadata) {
			t.Errorf("event %d: ReadAll returned type %q, data %q, metadata %q; ReadStream returned %q, %q, %q",
				i, event.Type, event.Data, event.Metadata, stored[i].Type, stored[i].Data, stored[i].Metadata)
		}
	}

	missing := newStreamName("project")
	_, err := store.ReadStream(ctx, missing, 0, 0)
	if !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Errorf("ReadStream of missing stream %s: error is %v, expected ErrStreamNotFound", missing, err)
	}
}

func testReadStreamRanges(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	stream := newStreamName("project")
	events := newEvents(10)
	mustAppend(ctx, t, store, stream, eventstore.NoStream(), events[:4]...)
	mustAppend(ctx, t, store, stream, eventstore.Exact(3), events[4:]...)
	ids := dataIDs(events)

	cases := []struct {
		from      uint64
		limit     int
		wantFirst int
		wantCount int
	}{
		{from: 0, limit: 0, wantFirst: 0, wantCount: 10},
		{from: 0, limit: -1, wantFirst: 0, wantCount: 10},
		{from: 0, limit: 1, wantFirst: 0, wantCount: 1},
		{from: 3, limit: 4, wantFirst: 3, wantCount: 4},
		{from: 4, limit: 0, wantFirst: 4, wantCount: 6},
		{from: 8, limit: 5, wantFirst: 8, wantCount: 2},
		{from: 9, limit: 1, wantFirst: 9, wantCount: 1},
		{from: 10, limit: 0, wantFirst: 10, wantCount: 0},
		{from: 1000, limit: 3, wantFirst: 10, wantCount: 0},
	}
	for _, c := range cases {
		got, err := store.ReadStream(ctx, stream, c.from, c.limit)
		if err != nil {
			t.Errorf("ReadStream(from %d, limit %d) failed: %v", c.from, c.limit, err)
			continue
		}
		what := fmt.Sprintf("ReadStream(from %d, limit %d)", c.from, c.limit)
		checkIDs(t, what, got, ids[c.wantFirst:c.wantFirst+c.wantCount])
		for i, event := range got {
			if want := uint64(c.wantFirst + i); event.Revision != want {
				t.Errorf("%s: event %d has revision %d, expected %d", what, i, event.Revision, want)
			}
		}
	}
}

func testReadAllOrder(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	prefix := newPrefix()
	appended := appendInterleaved(t, store, prefix)

	all := mustReadAll(ctx, t, store, eventstore.Start, 0, eventstore.Filter{StreamPrefix: prefix})
	checkIDs(t, "ReadAll of the interleaved appends", all, recordedIDs(appended))
	checkPositionsIncrease(t, "ReadAll of the interleaved appends", all)
	for i, event := range all {
		if event.StreamID != appended[i].StreamID {
			t.Errorf("event %d: stream is %q, expected %q", i, event.StreamID, appended[i].StreamID)
		}
		if event.Revision != appended[i].Revision {
			t.Errorf("event %d: revision is %d, expected %d", i, event.Revision, appended[i].Revision)
		}
	}

	// Without a filter, $all may contain events of other tests, so check
	// only that this test's events come in order.
	unfiltered := mustReadAll(ctx, t, store, all[0].Position, 0, eventstore.Filter{})
	checkSubsequence(t, "ReadAll without a filter", unfiltered, recordedIDs(appended[1:]))
}

func testReadAllAfterAndLimit(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	prefix := newPrefix()
	filter := eventstore.Filter{StreamPrefix: prefix}
	appendInterleaved(t, store, prefix)
	all := mustReadAll(ctx, t, store, eventstore.Start, 0, filter)
	ids := recordedIDs(all)

	for _, k := range []int{0, 1, 4, len(all) - 2, len(all) - 1} {
		got := mustReadAll(ctx, t, store, all[k].Position, 0, filter)
		checkIDs(t, fmt.Sprintf("ReadAll after the position of event %d", k), got, ids[k+1:])
	}

	checkIDs(t, "ReadAll with limit 3", mustReadAll(ctx, t, store, eventstore.Start, 3, filter), ids[:3])
	checkIDs(t, "ReadAll with limit -1", mustReadAll(ctx, t, store, eventstore.Start, -1, filter), ids)
	checkIDs(t, "ReadAll after event 2 with limit 2", mustReadAll(ctx, t, store, all[2].Position, 2, filter), ids[3:5])

	var paged []eventstore.RecordedEvent
	after := eventstore.Start
	for page := 0; ; page++ {
		if page > len(all) {
			t.Fatalf("reading pages of 2 did not end after %d pages", page)
		}
		events := mustReadAll(ctx, t, store, after, 2, filter)
		if len(events) == 0 {
			break
		}
		if len(events) > 2 {
			t.Fatalf("page %d has %d events, expected at most 2", page, len(events))
		}
		paged = append(paged, events...)
		after = events[len(events)-1].Position
	}
	checkIDs(t, "ReadAll in pages of 2", paged, ids)
}

func testReadAllFilter(t *testing.T, store eventstore.Store) {
	ctx := newContext(t)
	prefix := newPrefix()
	appended := appendInterleaved(t, store, prefix)

	var alpha []string
	for _, event := range appended {
		if strings.HasPrefix(event.StreamID, prefix+"alpha-") {
			alpha = append(alpha, event.ID)
		}
	}
	got := mustReadAll(ctx, t, store, eventstore.Start, 0, eventstore.Filter{StreamPrefix: prefix + "alpha-"})
	checkIDs(t, "ReadAll of the alpha streams", got, alpha)
	got = mustReadAll(ctx, t, store, eventstore.Start, 2, eventstore.Filter{StreamPrefix: prefix + "alpha-"})
	checkIDs(t, "ReadAll of the alpha streams with limit 2", got, alpha[:2])

	unused := newPrefix()
	got = mustReadAll(ctx, t, store, eventstore.Start, 0, eventstore.Filter{StreamPrefix: unused})
	if len(got) != 0 {
		t.Errorf("ReadAll with unused prefix %q returned %d events, expected none", unused, len(got))
	}
}

// appendInterleaved appends to the streams prefix+"alpha-1",
// prefix+"beta-1" and prefix+"alpha-2" in turn, some appends with more than
// one event, and returns the appended events in append order with their
// stream and revision filled in.
func appendInterleaved(t *testing.T, store eventstore.Store, prefix string) []eventstore.RecordedEvent {
	t.Helper()
	ctx := newContext(t)
	steps := []struct {
		stream string
		events int
	}{
		{"alpha-1", 1}, {"beta-1", 1}, {"alpha-2", 2}, {"alpha-1", 1},
		{"beta-1", 3}, {"alpha-2", 1}, {"alpha-1", 2}, {"beta-1", 1},
	}
	var appended []eventstore.RecordedEvent
	for _, step := range steps {
		stream := prefix + step.stream
		events := newEvents(step.events)
		result := mustAppend(ctx, t, store, stream, eventstore.Any(), events...)
		first := result.Revision + 1 - uint64(len(events))
		for i, event := range events {
			appended = append(appended, eventstore.RecordedEvent{
				ID:       event.ID,
				StreamID: stream,
				Revision: first + uint64(i),
			})
		}
	}
	return appended
}
