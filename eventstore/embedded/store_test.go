package embedded

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		return openTestStore(t, t.TempDir())
	})
}

// openTestStore opens a store in dir and closes it when the test ends.
func openTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	store, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open(%s) failed: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("Close of store in %s failed: %v", dir, err)
		}
	})
	return store
}

func testEvent(eventType string) eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.NewString(),
		Type:     eventType,
		Data:     []byte(`{"answer":"yes"}`),
		Metadata: []byte(`{"userId":"u-1"}`),
	}
}

func testEvents(count int) []eventstore.EventData {
	events := make([]eventstore.EventData, count)
	for i := range events {
		events[i] = testEvent("AnswerSubmitted")
	}
	return events
}

func mustAppend(t *testing.T, store *Store, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	result, err := store.Append(t.Context(), stream, expected, events...)
	if err != nil {
		t.Fatalf("Append(%s, expected %s, %d events) failed: %v", stream, expected, len(events), err)
	}
	return result
}

func position(seq uint64) eventstore.Position {
	return eventstore.Position{Commit: seq, Prepare: seq}
}

func TestPositionsAreSequenceNumbers(t *testing.T) {
	store := openTestStore(t, t.TempDir())
	first := mustAppend(t, store, "project-1", eventstore.NoStream(), testEvents(2)...)
	second := mustAppend(t, store, "project-2", eventstore.NoStream(), testEvents(1)...)

	if first.Position != position(2) {
		t.Errorf("first append: position is %s, expected 2/2", first.Position)
	}
	if second.Position != position(3) {
		t.Errorf("second append: position is %s, expected 3/3", second.Position)
	}
	all, err := store.ReadAll(t.Context(), eventstore.Start, 0, eventstore.Filter{})
	if err != nil {
		t.Fatalf("ReadAll failed: %v", err)
	}
	for i, event := range all {
		if want := position(uint64(i + 1)); event.Position != want {
			t.Errorf("event %d: position is %s, expected %s", i, event.Position, want)
		}
		if event.RecordedAt.Location() != time.UTC {
			t.Errorf("event %d: RecordedAt %s is not in UTC", i, event.RecordedAt)
		}
	}
}

func TestReadAllAfterPrepare(t *testing.T) {
	store := openTestStore(t, t.TempDir())
	mustAppend(t, store, "project-1", eventstore.NoStream(), testEvents(5)...)

	cases := []struct {
		after     eventstore.Position
		wantFirst uint64
	}{
		{eventstore.Start, 1},
		{position(2), 3},
		// {3, 2} comes before {3, 3}, so event 3 is after it.
		{eventstore.Position{Commit: 3, Prepare: 2}, 3},
		{eventstore.Position{Commit: 3, Prepare: 4}, 4},
		{eventstore.Position{Commit: 0, Prepare: 7}, 1},
	}
	for _, c := range cases {
		events, err := store.ReadAll(t.Context(), c.after, 1, eventstore.Filter{})
		if err != nil {
			t.Fatalf("ReadAll(after %s) failed: %v", c.after, err)
		}
		if len(events) != 1 {
			t.Fatalf("ReadAll(after %s) returned %d events, expected 1", c.after, len(events))
		}
		if events[0].Position != position(c.wantFirst) {
			t.Errorf("ReadAll(after %s) starts at %s, expected %d/%d", c.after, events[0].Position, c.wantFirst, c.wantFirst)
		}
	}

	last := eventstore.Position{Commit: math.MaxUint64, Prepare: math.MaxUint64}
	events, err := store.ReadAll(t.Context(), last, 0, eventstore.Filter{})
	if err != nil {
		t.Fatalf("ReadAll(after %s) failed: %v", last, err)
	}
	if len(events) != 0 {
		t.Errorf("ReadAll(after %s) returned %d events, expected none", last, len(events))
	}
}

func TestReopenContinuesSequence(t *testing.T) {
	dir := t.TempDir()
	store, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open failed: %v", err)
	}
	firstEvents := testEvents(3)
	first, err := store.Append(t.Context(), "project-1", eventstore.NoStream(), firstEvents...)
	if err != nil {
		t.Fatalf("Append failed: %v", err)
	}
	if _, err := store.Append(t.Context(), "project-2", eventstore.NoStream(), testEvents(2)...); err != nil {
		t.Fatalf("Append failed: %v", err)
	}
	if err := store.Close(); err != nil {
		t.Fatalf("Close failed: %v", err)
	}

	store = openTestStore(t, dir)
	all, err := store.ReadAll(t.Context(), eventstore.Start, 0, eventstore.Filter{})
	if err != nil {
		t.Fatalf("ReadAll after reopening failed: %v", err)
	}
	if len(all) != 5 {
		t.Fatalf("ReadAll after reopening returned %d events, expected 5", len(all))
	}

	result := mustAppend(t, store, "project-2", eventstore.Exact(1), testEvent("ProjectArchived"))
	if result.Position != position(6) {
		t.Errorf("append after reopening: position is %s, expected 6/6", result.Position)
	}
	if result.Revision != 2 {
		t.Errorf("append after reopening: revision is %d, expected 2", result.Revision)
	}

	retry, err := store.Append(t.Context(), "project-1", eventstore.NoStream(), firstEvents...)
	if err != nil {
		t.Fatalf("retry of the first append after reopening failed: %v", err)
	}
	if retry != first {
		t.Errorf("retry of the first append after reopening returned %+v, expected %+v", retry, first)
	}
}

func TestOpenLockedDirectory(t *testing.T) {
	dir := t.TempDir()
	store, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open failed: %v", err)
	}

	second, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
	if err == nil {
		_ = second.Close()
		t.Fatalf("second Open of %s succeeded, expected an error", dir)
	}
	if !errors.Is(err, ErrInUse) {
		t.Errorf("second Open error %q does not wrap ErrInUse", err)
	}
	for _, want := range []string{"data directory " + dir + " is in use", filepath.Join(dir, FileName)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second Open error %q does not contain %q", err, want)
		}
	}

	if err := store.Close(); err != nil {
		t.Fatalf("Close failed: %v", err)
	}
	openTestStore(t, dir)
}

func TestGroupCommit(t *testing.T) {
	store := openTestStore(t, t.TempDir())
	const appenders = 64

	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range appenders {
		wg.Go(func() {
			<-start
			if _, err := store.Append(t.Context(), "project-"+uuid.NewString(), eventstore.NoStream(), testEvent("ProjectCreated")); err != nil {
				t.Errorf("appender %d failed: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()

	stats := store.Stats()
	if stats.Appends != appenders {
		t.Errorf("Stats().Appends is %d, expected %d", stats.Appends, appenders)
	}
	if stats.Events != appenders {
		t.Errorf("Stats().Events is %d, expected %d", stats.Events, appenders)
	}
	if stats.Commits >= appenders {
		t.Errorf("%d concurrent appends used %d commits, expected fewer", appenders, stats.Commits)
	}
	t.Logf("%d concurrent appends used %d commits", appenders, stats.Commits)
}

// TestBatchRequestsSeeEarlierRequests commits one batch directly, so that
// its requests are certain to share a transaction.
func TestBatchRequestsSeeEarlierRequests(t *testing.T) {
	// No Append runs on this store before commitBatch returns, so the writer
	// goroutine is idle and this goroutine may use the writer's state.
	store := openTestStore(t, t.TempDir())
	ctx := t.Context()
	first := testEvents(2)
	rejected := testEvent("ProjectCreated")
	onlyID := testEvent("ProjectCreated")

	requests := []*appendRequest{
		newAppendRequest(ctx, "project-x", eventstore.NoStream(), first),
		newAppendRequest(ctx, "project-x", eventstore.NoStream(), testEvents(1)),
		newAppendRequest(ctx, "project-x", eventstore.Exact(1), testEvents(1)),
		newAppendRequest(ctx, "project-x", eventstore.NoStream(), first),
		newAppendRequest(ctx, "project-y", eventstore.StreamExists(), []eventstore.EventData{rejected}),
		newAppendRequest(ctx, "project-x", eventstore.Any(), []eventstore.EventData{first[0], onlyID}),
		newAppendRequest(ctx, "project-y", eventstore.NoStream(), []eventstore.EventData{first[1]}),
		newAppendRequest(ctx, "project-y", eventstore.NoStream(), []eventstore.EventData{rejected}),
	}
	store.commitBatch(requests)
	replies := make([]appendReply, len(requests))
	for i, req := range requests {
		replies[i] = <-req.reply
	}

	wantResults := map[int]eventstore.AppendResult{
		0: {Revision: 1, Position: position(2)},
		2: {Revision: 2, Position: position(3)},
		3: {Revision: 1, Position: position(2)},
		7: {Revision: 0, Position: position(4)},
	}
	for i, want := range wantResults {
		if replies[i].err != nil {
			t.Errorf("request %d failed: %v", i, replies[i].err)
		} else if replies[i].result != want {
			t.Errorf("request %d returned %+v, expected %+v", i, replies[i].result, want)
		}
	}

	var conflict *eventstore.ConflictError
	if !errors.As(replies[1].err, &conflict) {
		t.Errorf("request 1 (no stream after request 0 created it): error is %v, expected a conflict", replies[1].err)
	} else if !conflict.Exists || conflict.Current != 1 {
		t.Errorf("request 1: conflict reports exists %t, current %d, expected true, 1", conflict.Exists, conflict.Current)
	}
	if !errors.As(replies[4].err, &conflict) {
		t.Errorf("request 4 (stream exists on a missing stream): error is %v, expected a conflict", replies[4].err)
	} else if conflict.Exists {
		t.Errorf("request 4: conflict reports that project-y exists")
	}
	if err := replies[5].err; err == nil || !strings.Contains(err.Error(), "1 of the 2 event ids are already stored") {
		t.Errorf("request 5 (one stored id, one new): error is %v, expected one naming the stored ids", err)
	}
	if err := replies[6].err; err == nil || !strings.Contains(err.Error(), `already stored in stream "project-x"`) {
		t.Errorf("request 6 (id stored in another stream): error is %v, expected one naming project-x", err)
	}

	if stats := store.Stats(); stats != (Stats{Commits: 1, Appends: 3, Events: 4}) {
		t.Errorf("Stats() is %+v, expected 1 commit, 3 appends, 4 events", stats)
	}
}

// TestBatchStorageFailure closes the bbolt file under the writer, so that
// the batch transaction fails and each request is retried alone.
func TestBatchStorageFailure(t *testing.T) {
	// As in TestBatchRequestsSeeEarlierRequests, the writer goroutine is
	// idle, so this goroutine may call commitBatch.
	store := openTestStore(t, t.TempDir())
	if err := store.db.Close(); err != nil {
		t.Fatalf("closing the bbolt file failed: %v", err)
	}

	requests := []*appendRequest{
		newAppendRequest(t.Context(), "project-a", eventstore.Any(), testEvents(1)),
		newAppendRequest(t.Context(), "project-b", eventstore.Any(), testEvents(1)),
	}
	store.commitBatch(requests)
	for i, req := range requests {
		reply := <-req.reply
		want := fmt.Sprintf("append to stream %q: ", req.stream)
		if reply.err == nil || !strings.HasPrefix(reply.err.Error(), want) {
			t.Errorf("request %d: error is %v, expected one starting with %q", i, reply.err, want)
		}
	}
	if stats := store.Stats(); stats.Commits != 0 {
		t.Errorf("Stats().Commits is %d after the failed batch, expected 0", stats.Commits)
	}
}

func TestAppendValidation(t *testing.T) {
	store := openTestStore(t, t.TempDir())
	duplicate := testEvent("AnswerSubmitted")

	cases := []struct {
		name    string
		stream  string
		events  []eventstore.EventData
		wantMsg string
	}{
		{"empty stream name", "", testEvents(1), "stream name is empty"},
		{"long stream name", strings.Repeat("s", maxKeyFieldLength+1), testEvents(1), "stream name is 32751 bytes long"},
		{"no events", "project-1", nil, `append to stream "project-1": no events given`},
		{"empty id", "project-1", []eventstore.EventData{{Type: "ProjectCreated"}}, "event 0 has an empty id"},
		{"empty type", "project-1", []eventstore.EventData{testEvent("AnswerSubmitted"), {ID: "e-2"}}, "event 1 (id e-2) has an empty type"},
		{"duplicate id", "project-1", []eventstore.EventData{duplicate, testEvent("AnswerSubmitted"), duplicate}, "events 0 and 2 have the same id " + duplicate.ID},
	}
	for _, c := range cases {
		_, err := store.Append(t.Context(), c.stream, eventstore.Any(), c.events...)
		if err == nil {
			t.Errorf("%s: Append succeeded, expected an error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.wantMsg) {
			t.Errorf("%s: error is %q, expected it to contain %q", c.name, err, c.wantMsg)
		}
	}

	all, err := store.ReadAll(t.Context(), eventstore.Start, 0, eventstore.Filter{})
	if err != nil {
		t.Fatalf("ReadAll failed: %v", err)
	}
	if len(all) != 0 {
		t.Errorf("store has %d events after the rejected appends, expected none", len(all))
	}
}

func TestAppendCanceledContext(t *testing.T) {
	store := openTestStore(t, t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := store.Append(ctx, "project-1", eventstore.Any(), testEvent("ProjectCreated"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a canceled context: error is %v, expected context.Canceled", err)
	}
	if _, err := store.ReadStream(t.Context(), "project-1", 0, 0); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Errorf("ReadStream after the canceled append: error is %v, expected ErrStreamNotFound", err)
	}
}

// TestCloseDuringAppends closes the store while appenders keep appending.
// Every append must either succeed, and then be stored, or fail with
// ErrClosed.
func TestCloseDuringAppends(t *testing.T) {
	dir := t.TempDir()
	store, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open failed: %v", err)
	}

	const appenders = 32
	streams := make([]string, appenders)
	succeeded := make([]int, appenders)
	failures := make([]error, appenders)
	// Each appender reports once on started after its first append, so that
	// Close runs while the others are queued or committing.
	started := make(chan struct{}, appenders)
	var wg sync.WaitGroup
	for i := range appenders {
		streams[i] = "project-" + uuid.NewString()
		wg.Go(func() {
			for {
				_, err := store.Append(t.Context(), streams[i], eventstore.Any(), testEvent("AnswerSubmitted"))
				if err != nil {
					failures[i] = err
					return
				}
				succeeded[i]++
				if succeeded[i] == 1 {
					started <- struct{}{}
				}
			}
		})
	}
	for range appenders {
		<-started
	}
	if err := store.Close(); err != nil {
		t.Fatalf("Close failed: %v", err)
	}
	wg.Wait()

	select {
	case <-store.writerDone:
	default:
		t.Errorf("the writer goroutine is still running after Close")
	}
	if err := store.Close(); err != nil {
		t.Errorf("second Close failed: %v", err)
	}

	reopened := openTestStore(t, dir)
	total := 0
	for i, stream := range streams {
		if !errors.Is(failures[i], eventstore.ErrClosed) {
			t.Errorf("appender %d stopped with error %v, expected ErrClosed", i, failures[i])
		}
		events, err := reopened.ReadStream(t.Context(), stream, 0, 0)
		if err != nil {
			t.Errorf("reading %s after reopening failed: %v", stream, err)
			continue
		}
		if len(events) != succeeded[i] {
			t.Errorf("stream %s has %d events after reopening, but %d appends to it succeeded", stream, len(events), succeeded[i])
		}
		total += succeeded[i]
	}
	t.Logf("%d appends succeeded before Close", total)
}

func TestOpenEmptyDirectoryName(t *testing.T) {
	if _, err := Open("", Options{}); err == nil || !strings.Contains(err.Error(), "data directory path is empty") {
		t.Errorf("Open(\"\") returned error %v, expected one about the empty path", err)
	}
}
