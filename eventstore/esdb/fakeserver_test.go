package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	kurrent "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/integrationplatform/onboarding/eventstore/esdb/esdbtest"
)

func newFakeClient(t *testing.T, server *esdbtest.Server) *kurrent.Client {
	t.Helper()
	config, err := kurrent.ParseConnectionString(server.ConnectionString())
	if err != nil {
		t.Fatalf("parse connection string %q: %v", server.ConnectionString(), err)
	}
	config.Logger = kurrent.NoopLogging()
	client, err := kurrent.NewClient(config)
	if err != nil {
		t.Fatalf("create client: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func fakeEventData(eventType, data string) kurrent.EventData {
	return kurrent.EventData{
		EventID:     uuid.New(),
		EventType:   eventType,
		ContentType: kurrent.ContentTypeJson,
		Data:        []byte(data),
		Metadata:    []byte(`{"correlationId":"c-1"}`),
	}
}

// fakeErrorCode returns the code of the client's *Error in err's chain.
func fakeErrorCode(err error) (kurrent.ErrorCode, bool) {
	var clientErr *kurrent.Error
	if !errors.As(err, &clientErr) {
		return 0, false
	}
	return clientErr.Code(), true
}

func fakeReadStreamEvents(t *testing.T, client *kurrent.Client, stream string, options kurrent.ReadStreamOptions, count uint64) []*kurrent.RecordedEvent {
	t.Helper()
	read, err := client.ReadStream(context.Background(), stream, options, count)
	if err != nil {
		t.Fatalf("read stream %s: %v", stream, err)
	}
	defer read.Close()
	var events []*kurrent.RecordedEvent
	for {
		resolved, err := read.Recv()
		if errors.Is(err, io.EOF) {
			return events
		}
		if err != nil {
			t.Fatalf("read stream %s after %d events: %v", stream, len(events), err)
		}
		events = append(events, resolved.OriginalEvent())
	}
}

func fakeReadAllEvents(t *testing.T, client *kurrent.Client, options kurrent.ReadAllOptions, count uint64) []*kurrent.RecordedEvent {
	t.Helper()
	read, err := client.ReadAll(context.Background(), options, count)
	if err != nil {
		t.Fatalf("read $all: %v", err)
	}
	defer read.Close()
	var events []*kurrent.RecordedEvent
	for {
		resolved, err := read.Recv()
		if errors.Is(err, io.EOF) {
			return events
		}
		if err != nil {
			t.Fatalf("read $all after %d events: %v", len(events), err)
		}
		events = append(events, resolved.OriginalEvent())
	}
}

func TestFakeAppendExpectedRevisions(t *testing.T) {
	client := newFakeClient(t, esdbtest.Start(t))
	ctx := context.Background()

	steps := []struct {
		name         string
		stream       string
		expected     kurrent.ExpectedRevision
		wantRevision uint64
	}{
		{"no stream", "order-1", kurrent.NoStream{}, 0},
		{"exact revision", "order-1", kurrent.StreamRevision{Value: 0}, 1},
		{"stream exists", "order-1", kurrent.StreamExists{}, 2},
		{"any on existing stream", "order-1", kurrent.Any{}, 3},
		{"any on new stream", "order-2", kurrent.Any{}, 0},
	}
	var lastPosition uint64
	for _, step := range steps {
		result, err := client.AppendToStream(ctx, step.stream, kurrent.AppendToStreamOptions{ExpectedRevision: step.expected}, fakeEventData("OrderPlaced", `{}`))
		if err != nil {
			t.Fatalf("%s: append failed: %v", step.name, err)
		}
		if result.NextExpectedVersion != step.wantRevision {
			t.Errorf("%s: NextExpectedVersion = %d, want %d", step.name, result.NextExpectedVersion, step.wantRevision)
		}
		if result.CommitPosition <= lastPosition {
			t.Errorf("%s: CommitPosition = %d, want more than the previous %d", step.name, result.CommitPosition, lastPosition)
		}
		if result.PreparePosition != result.CommitPosition {
			t.Errorf("%s: PreparePosition = %d, want the commit position %d", step.name, result.PreparePosition, result.CommitPosition)
		}
		lastPosition = result.CommitPosition
	}

	events := fakeReadStreamEvents(t, client, "order-1", kurrent.ReadStreamOptions{}, 100)
	if len(events) != 4 {
		t.Errorf("order-1 has %d events, want 4", len(events))
	}
}

func TestFakeAppendConflict(t *testing.T) {
	client := newFakeClient(t, esdbtest.Start(t))
	ctx := context.Background()
	for range 3 {
		if _, err := client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{}, fakeEventData("OrderPlaced", `{}`)); err != nil {
			t.Fatalf("append: %v", err)
		}
	}

	cases := []struct {
		name        string
		stream      string
		expected    kurrent.ExpectedRevision
		wantMessage string
	}{
		{"stale revision", "order-1", kurrent.StreamRevision{Value: 1}, "expecting '1' but got '2'"},
		{"revision ahead", "order-1", kurrent.StreamRevision{Value: 7}, "expecting '7' but got '2'"},
		{"no stream on existing stream", "order-1", kurrent.NoStream{}, "expecting 'no_stream' but got '2'"},
		{"stream exists on missing stream", "order-9", kurrent.StreamExists{}, "expecting 'stream_exists' but got 'no_stream'"},
		{"revision on missing stream", "order-9", kurrent.StreamRevision{Value: 0}, "expecting '0' but got 'no_stream'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			result, err := client.AppendToStream(ctx, tc.stream, kurrent.AppendToStreamOptions{ExpectedRevision: tc.expected}, fakeEventData("OrderPlaced", `{}`))
			if err == nil {
				t.Fatalf("append succeeded with result %+v, want a wrong expected version error", result)
			}
			code, ok := fakeErrorCode(err)
			if !ok {
				t.Fatalf("error %v (%T) is not a *kurrent.Error", err, err)
			}
			if code != kurrent.ErrorCodeWrongExpectedVersion {
				t.Errorf("error code = %d, want ErrorCodeWrongExpectedVersion (%d): %v", code, kurrent.ErrorCodeWrongExpectedVersion, err)
			}
			if !strings.Contains(err.Error(), tc.wantMessage) {
				t.Errorf("error %q does not contain %q", err, tc.wantMessage)
			}
		})
	}

	events := fakeReadStreamEvents(t, client, "order-1", kurrent.ReadStreamOptions{}, 100)
	if len(events) != 3 {
		t.Errorf("order-1 has %d events after the conflicts, want 3", len(events))
	}
}

// The retry rules follow EventStoreDB's IndexWriter.CheckCommit; see
// fakeLog.checkRetryLocked.
func TestFakeAppendIdempotent(t *testing.T) {
	client := newFakeClient(t, esdbtest.Start(t))
	ctx := context.Background()
	appendTo := func(expected kurrent.ExpectedRevision, events ...kurrent.EventData) (*kurrent.WriteResult, error) {
		return client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{ExpectedRevision: expected}, events...)
	}
	placed := fakeEventData("OrderPlaced", `{"n":0}`)
	paid := fakeEventData("OrderPaid", `{"n":1}`)

	first, err := appendTo(kurrent.NoStream{}, placed, paid)
	if err != nil {
		t.Fatalf("first append: %v", err)
	}
	retries := []struct {
		name     string
		expected kurrent.ExpectedRevision
	}{
		{"no stream", kurrent.NoStream{}},
		{"any", kurrent.Any{}},
		{"stream exists", kurrent.StreamExists{}},
	}
	for _, retry := range retries {
		again, err := appendTo(retry.expected, placed, paid)
		if err != nil {
			t.Fatalf("retry with %s: %v", retry.name, err)
		}
		if *again != *first {
			t.Errorf("retry with %s returned %+v, want the first result %+v", retry.name, *again, *first)
		}
	}

	shipped := fakeEventData("OrderShipped", `{"n":2}`)
	third, err := appendTo(kurrent.StreamRevision{Value: 1}, shipped)
	if err != nil {
		t.Fatalf("append at revision 1: %v", err)
	}
	again, err := appendTo(kurrent.StreamRevision{Value: 1}, shipped)
	if err != nil {
		t.Fatalf("retry at revision 1: %v", err)
	}
	if *again != *third {
		t.Errorf("retry at revision 1 returned %+v, want the first result %+v", *again, *third)
	}

	// After a later append, any and no_stream still find the first events.
	for _, retry := range retries[:2] {
		again, err := appendTo(retry.expected, placed, paid)
		if err != nil {
			t.Fatalf("retry with %s after a later append: %v", retry.name, err)
		}
		if *again != *first {
			t.Errorf("retry with %s after a later append returned %+v, want the first result %+v", retry.name, *again, *first)
		}
	}
	if events := fakeReadStreamEvents(t, client, "order-1", kurrent.ReadStreamOptions{}, 100); len(events) != 3 {
		t.Fatalf("order-1 has %d events after the retries, want 3", len(events))
	}

	rejected := []struct {
		name     string
		expected kurrent.ExpectedRevision
		events   []kurrent.EventData
	}{
		{"exact revision before the first event", kurrent.StreamRevision{Value: 0}, []kurrent.EventData{placed, paid}},
		{"stored event followed by a new one", kurrent.Any{}, []kurrent.EventData{paid, fakeEventData("OrderPaid", `{}`)}},
		{"exact revision with one event past the end", kurrent.StreamRevision{Value: 1}, []kurrent.EventData{shipped, fakeEventData("OrderShipped", `{}`)}},
		{"no stream with new ids", kurrent.NoStream{}, []kurrent.EventData{fakeEventData("OrderPlaced", `{}`)}},
	}
	for _, tc := range rejected {
		_, err := appendTo(tc.expected, tc.events...)
		if code, _ := fakeErrorCode(err); code != kurrent.ErrorCodeWrongExpectedVersion {
			t.Errorf("%s: append returned %v, want a wrong expected version error", tc.name, err)
		}
	}

	// EventStoreDB writes the events again when the expected revision is
	// the current one, even with stored ids.
	repeated, err := appendTo(kurrent.StreamRevision{Value: 2}, shipped)
	if err != nil {
		t.Fatalf("append of a stored id at the current revision: %v", err)
	}
	if repeated.NextExpectedVersion != 3 {
		t.Errorf("append of a stored id at the current revision wrote revision %d, want 3", repeated.NextExpectedVersion)
	}
}

func TestFakeReadStream(t *testing.T) {
	client := newFakeClient(t, esdbtest.Start(t))
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	written := []kurrent.EventData{
		fakeEventData("OrderPlaced", `{"n":0}`),
		fakeEventData("OrderPaid", `{"n":1}`),
		{EventID: uuid.New(), EventType: "OrderShipped", ContentType: kurrent.ContentTypeBinary, Data: []byte{0, 1, 2}},
	}
	result, err := client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{}, written...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}

	events := fakeReadStreamEvents(t, client, "order-1", kurrent.ReadStreamOptions{}, 10)
	if len(events) != len(written) {
		t.Fatalf("read %d events, want %d", len(events), len(written))
	}
	wantContentTypes := []string{"application/json", "application/json", "application/octet-stream"}
	for i, e := range events {
		if e.EventID != written[i].EventID {
			t.Errorf("event %d: id %s, want %s", i, e.EventID, written[i].EventID)
		}
		if e.EventType != written[i].EventType {
			t.Errorf("event %d: type %q, want %q", i, e.EventType, written[i].EventType)
		}
		if e.ContentType != wantContentTypes[i] {
			t.Errorf("event %d: content type %q, want %q", i, e.ContentType, wantContentTypes[i])
		}
		if string(e.Data) != string(written[i].Data) {
			t.Errorf("event %d: data %q, want %q", i, e.Data, written[i].Data)
		}
		if string(e.UserMetadata) != string(written[i].Metadata) {
			t.Errorf("event %d: user metadata %q, want %q", i, e.UserMetadata, written[i].Metadata)
		}
		if e.StreamID != "order-1" {
			t.Errorf("event %d: stream %q, want order-1", i, e.StreamID)
		}
		if e.EventNumber != uint64(i) {
			t.Errorf("event %d: revision %d, want %d", i, e.EventNumber, i)
		}
		if e.CreatedDate.Before(before) || e.CreatedDate.After(time.Now().Add(time.Second)) {
			t.Errorf("event %d: created %v, want about now", i, e.CreatedDate)
		}
		if e.Position.Commit < esdbtest.FirstPosition || e.Position.Prepare != e.Position.Commit {
			t.Errorf("event %d: position %+v, want commit = prepare >= %d", i, e.Position, esdbtest.FirstPosition)
		}
	}
	if last := events[len(events)-1]; last.Position.Commit != result.CommitPosition {
		t.Errorf("last event at commit %d, the append returned %d", last.Position.Commit, result.CommitPosition)
	}

	fromOne := fakeReadStreamEvents(t, client, "order-1", kurrent.ReadStreamOptions{From: kurrent.Revision(1)}, 1)
	if got, want := fakeRevisions(fromOne), "1"; got != want {
		t.Errorf("read from revision 1, count 1: got revisions %s, want %s", got, want)
	}

	backwards := fakeReadStreamEvents(t, client, "order-1", kurrent.ReadStreamOptions{Direction: kurrent.Backwards, From: kurrent.End{}}, 2)
	if got, want := fakeRevisions(backwards), "2,1"; got != want {
		t.Errorf("read backwards from the end, count 2: got revisions %s, want %s", got, want)
	}

	backwardsFromOne := fakeReadStreamEvents(t, client, "order-1", kurrent.ReadStreamOptions{Direction: kurrent.Backwards, From: kurrent.Revision(1)}, 10)
	if got, want := fakeRevisions(backwardsFromOne), "1,0"; got != want {
		t.Errorf("read backwards from revision 1: got revisions %s, want %s", got, want)
	}

	pastEnd := fakeReadStreamEvents(t, client, "order-1", kurrent.ReadStreamOptions{From: kurrent.Revision(3)}, 10)
	if len(pastEnd) != 0 {
		t.Errorf("read from revision 3 of 3 events: got %d events, want none", len(pastEnd))
	}
}

// fakeRevisions formats the stream revisions of events as "0,1,2".
func fakeRevisions(events []*kurrent.RecordedEvent) string {
	revisions := make([]string, len(events))
	for i, e := range events {
		revisions[i] = strconv.FormatUint(e.EventNumber, 10)
	}
	return strings.Join(revisions, ",")
}

func TestFakeReadMissingStream(t *testing.T) {
	client := newFakeClient(t, esdbtest.Start(t))
	read, err := client.ReadStream(context.Background(), "order-missing", kurrent.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatalf("ReadStream returned %v; the client reports a missing stream from Recv", err)
	}
	defer read.Close()

	event, err := read.Recv()
	if err == nil {
		t.Fatalf("Recv returned event %+v, want a not-found error", event)
	}
	code, ok := fakeErrorCode(err)
	if !ok || code != kurrent.ErrorCodeResourceNotFound {
		t.Errorf("Recv error %v, want code ErrorCodeResourceNotFound (%d)", err, kurrent.ErrorCodeResourceNotFound)
	}
}

// fakeRecvError reads the stream and returns the error of the first Recv.
func fakeRecvError(t *testing.T, client *kurrent.Client, stream string) error {
	t.Helper()
	read, err := client.ReadStream(context.Background(), stream, kurrent.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatalf("ReadStream %s returned %v; the client reports read errors from Recv", stream, err)
	}
	defer read.Close()
	event, err := read.Recv()
	if err == nil {
		t.Fatalf("Recv of %s returned event %+v, want an error", stream, event)
	}
	return err
}

func TestFakeTombstone(t *testing.T) {
	client := newFakeClient(t, esdbtest.Start(t))
	ctx := context.Background()
	if _, err := client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{}, fakeEventData("OrderPlaced", `{}`)); err != nil {
		t.Fatalf("append: %v", err)
	}
	if _, err := client.TombstoneStream(ctx, "order-1", kurrent.TombstoneStreamOptions{ExpectedRevision: kurrent.Revision(5)}); err == nil {
		t.Error("tombstone with expected revision 5 of a stream at revision 0 succeeded, want an error")
	}

	result, err := client.TombstoneStream(ctx, "order-1", kurrent.TombstoneStreamOptions{ExpectedRevision: kurrent.Revision(0)})
	if err != nil {
		t.Fatalf("tombstone: %v", err)
	}

	if code, _ := fakeErrorCode(fakeRecvError(t, client, "order-1")); code != kurrent.ErrorCodeStreamDeleted {
		t.Errorf("read of the tombstoned stream: error code %d, want ErrorCodeStreamDeleted (%d)", code, kurrent.ErrorCodeStreamDeleted)
	}
	_, err = client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.Any{}}, fakeEventData("OrderPaid", `{}`))
	if code, _ := fakeErrorCode(err); code != kurrent.ErrorCodeStreamDeleted {
		t.Errorf("append to the tombstoned stream returned %v, want code ErrorCodeStreamDeleted", err)
	}
	var metadata kurrent.StreamMetadata
	metadata.SetMaxCount(1)
	_, err = client.SetStreamMetadata(ctx, "order-1", kurrent.AppendToStreamOptions{}, metadata)
	if code, _ := fakeErrorCode(err); code != kurrent.ErrorCodeStreamDeleted {
		t.Errorf("metadata write to the tombstoned stream returned %v, want code ErrorCodeStreamDeleted", err)
	}
	_, err = client.TombstoneStream(ctx, "order-1", kurrent.TombstoneStreamOptions{})
	if code, _ := fakeErrorCode(err); code != kurrent.ErrorCodeStreamDeleted {
		t.Errorf("second tombstone returned %v, want code ErrorCodeStreamDeleted", err)
	}

	// $all keeps the events and ends with the tombstone.
	events := fakeReadAllEvents(t, client, kurrent.ReadAllOptions{}, 1000)
	last := events[len(events)-1]
	if last.StreamID != "order-1" || last.EventType != "$streamDeleted" || last.EventNumber != math.MaxInt64 {
		t.Errorf("$all ends with %s/%s at revision %d, want order-1/$streamDeleted at revision 2^63-1", last.StreamID, last.EventType, last.EventNumber)
	}
	if last.Position != result.Position {
		t.Errorf("tombstone is at %+v in $all, the tombstone call returned %+v", last.Position, result.Position)
	}
	if previous := events[len(events)-2]; previous.StreamID != "order-1" || previous.EventType != "OrderPlaced" {
		t.Errorf("the event before the tombstone is %s/%s, want order-1/OrderPlaced", previous.StreamID, previous.EventType)
	}

	// A stream without events can be tombstoned, and is then deleted too.
	if _, err := client.TombstoneStream(ctx, "order-never-written", kurrent.TombstoneStreamOptions{ExpectedRevision: kurrent.Any{}}); err != nil {
		t.Fatalf("tombstone of a stream without events: %v", err)
	}
	_, err = client.AppendToStream(ctx, "order-never-written", kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.NoStream{}}, fakeEventData("OrderPlaced", `{}`))
	if code, _ := fakeErrorCode(err); code != kurrent.ErrorCodeStreamDeleted {
		t.Errorf("append to the tombstoned stream without events returned %v, want code ErrorCodeStreamDeleted", err)
	}
}

func TestFakeReadAll(t *testing.T) {
	client := newFakeClient(t, esdbtest.Start(t))
	ctx := context.Background()
	if _, err := client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{}, fakeEventData("OrderPlaced", `{}`), fakeEventData("OrderPaid", `{}`)); err != nil {
		t.Fatalf("append: %v", err)
	}

	events := fakeReadAllEvents(t, client, kurrent.ReadAllOptions{}, 1000)
	if len(events) < 3 {
		t.Fatalf("$all has %d events, want system events and 2 order events", len(events))
	}
	if !strings.HasPrefix(events[0].StreamID, "$") || !strings.HasPrefix(events[0].EventType, "$") {
		t.Errorf("$all starts with %s/%s, want a system event", events[0].StreamID, events[0].EventType)
	}
	for i := 1; i < len(events); i++ {
		if events[i].Position.Commit <= events[i-1].Position.Commit {
			t.Errorf("$all event %d at commit %d after %d, want increasing positions", i, events[i].Position.Commit, events[i-1].Position.Commit)
		}
	}
	last := events[len(events)-1]
	if last.StreamID != "order-1" || last.EventType != "OrderPaid" {
		t.Errorf("$all ends with %s/%s, want order-1/OrderPaid", last.StreamID, last.EventType)
	}

	from := events[len(events)-2].Position
	fromPosition := fakeReadAllEvents(t, client, kurrent.ReadAllOptions{From: from}, 1000)
	if len(fromPosition) != 2 {
		t.Fatalf("read from %+v returned %d events, want 2", from, len(fromPosition))
	}
	if fromPosition[0].Position != from {
		t.Errorf("read from %+v starts at %+v, want that position (included)", from, fromPosition[0].Position)
	}

	backwards := fakeReadAllEvents(t, client, kurrent.ReadAllOptions{Direction: kurrent.Backwards, From: kurrent.End{}}, 1)
	if len(backwards) != 1 {
		t.Fatalf("read backwards from the end, count 1: got %d events, want 1", len(backwards))
	}
	if backwards[0].Position != last.Position {
		t.Errorf("read backwards from the end returned the event at %+v, want the last event at %+v", backwards[0].Position, last.Position)
	}

	beforeLast := fakeReadAllEvents(t, client, kurrent.ReadAllOptions{Direction: kurrent.Backwards, From: last.Position}, 1)
	if len(beforeLast) != 1 {
		t.Fatalf("read backwards from %+v, count 1: got %d events, want 1", last.Position, len(beforeLast))
	}
	if beforeLast[0].Position != from {
		t.Errorf("read backwards from %+v returned the event at %+v, want the one before at %+v", last.Position, beforeLast[0].Position, from)
	}
}

// The v4.2.0 client's ReadAll sends no filter, so this test reads with the
// generated Streams client on its own connection.
func TestFakeReadAllFiltered(t *testing.T) {
	server := esdbtest.Start(t)
	client := newFakeClient(t, server)
	ctx := context.Background()
	for _, stream := range []string{"order-1", "customer-1", "order-2", "order-1"} {
		if _, err := client.AppendToStream(ctx, stream, kurrent.AppendToStreamOptions{}, fakeEventData("Tested", `{}`)); err != nil {
			t.Fatalf("append to %s: %v", stream, err)
		}
	}

	connection, err := grpc.NewClient(server.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("create gRPC connection to %s: %v", server.Addr(), err)
	}
	defer connection.Close()
	raw := streams.NewStreamsClient(connection)

	read := func(t *testing.T, filter *streams.ReadReq_Options_FilterOptions, count uint64) []string {
		t.Helper()
		call, err := raw.Read(ctx, &streams.ReadReq{Options: &streams.ReadReq_Options{
			StreamOption: &streams.ReadReq_Options_All{All: &streams.ReadReq_Options_AllOptions{
				AllOption: &streams.ReadReq_Options_AllOptions_Start{Start: &shared.Empty{}},
			}},
			CountOption:  &streams.ReadReq_Options_Count{Count: count},
			FilterOption: &streams.ReadReq_Options_Filter{Filter: filter},
			UuidOption:   &streams.ReadReq_Options_UUIDOption{Content: &streams.ReadReq_Options_UUIDOption_String_{String_: &shared.Empty{}}},
		}})
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var names []string
		for {
			response, err := call.Recv()
			if errors.Is(err, io.EOF) {
				return names
			}
			if err != nil {
				t.Fatalf("read after %d events: %v", len(names), err)
			}
			event := response.GetEvent().GetEvent()
			if event == nil {
				t.Fatalf("read returned %v, want only events", response)
			}
			if _, err := uuid.Parse(event.GetId().GetString_()); err != nil {
				t.Errorf("event id %v is not the requested string form: %v", event.GetId(), err)
			}
			names = append(names, string(event.GetStreamIdentifier().GetStreamName()))
		}
	}

	byPrefix := &streams.ReadReq_Options_FilterOptions{
		Filter: &streams.ReadReq_Options_FilterOptions_StreamIdentifier{StreamIdentifier: &streams.ReadReq_Options_FilterOptions_Expression{Prefix: []string{"order-"}}},
		Window: &streams.ReadReq_Options_FilterOptions_Count{Count: &shared.Empty{}},
	}
	if got, want := strings.Join(read(t, byPrefix, 100), ","), "order-1,order-2,order-1"; got != want {
		t.Errorf("prefix filter order-: read %s, want %s", got, want)
	}
	if got, want := strings.Join(read(t, byPrefix, 2), ","), "order-1,order-2"; got != want {
		t.Errorf("prefix filter order-, count 2: read %s, want %s", got, want)
	}

	notSystem := &streams.ReadReq_Options_FilterOptions{
		Filter: &streams.ReadReq_Options_FilterOptions_EventType{EventType: &streams.ReadReq_Options_FilterOptions_Expression{Regex: `^[^$]`}},
	}
	if got, want := len(read(t, notSystem, 100)), 4; got != want {
		t.Errorf("event type regex ^[^$]: read %d events, want %d", got, want)
	}

	both := &streams.ReadReq_Options_FilterOptions{
		Filter: &streams.ReadReq_Options_FilterOptions_StreamIdentifier{StreamIdentifier: &streams.ReadReq_Options_FilterOptions_Expression{Prefix: []string{"a"}, Regex: "b"}},
	}
	call, err := raw.Read(ctx, &streams.ReadReq{Options: &streams.ReadReq_Options{
		StreamOption: &streams.ReadReq_Options_All{All: &streams.ReadReq_Options_AllOptions{AllOption: &streams.ReadReq_Options_AllOptions_Start{Start: &shared.Empty{}}}},
		CountOption:  &streams.ReadReq_Options_Count{Count: 10},
		FilterOption: &streams.ReadReq_Options_Filter{Filter: both},
	}})
	if err != nil {
		t.Fatalf("read with prefixes and a regex: %v", err)
	}
	if _, err := call.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("read with prefixes and a regex returned %v, want InvalidArgument", err)
	}
}

// fakeNext returns the next subscription message and fails the test when
// the subscription drops.
func fakeNext(t *testing.T, subscription *kurrent.Subscription) *kurrent.SubscriptionEvent {
	t.Helper()
	message := subscription.Recv()
	if message.SubscriptionDropped != nil {
		t.Fatalf("subscription dropped: %v", message.SubscriptionDropped.Error)
	}
	return message
}

func TestFakeSubscribeAllFiltered(t *testing.T) {
	client := newFakeClient(t, esdbtest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, stream := range []string{"order-1", "customer-1", "order-2"} {
		if _, err := client.AppendToStream(ctx, stream, kurrent.AppendToStreamOptions{}, fakeEventData("Tested", `{}`)); err != nil {
			t.Fatalf("append to %s: %v", stream, err)
		}
	}
	all := fakeReadAllEvents(t, client, kurrent.ReadAllOptions{}, 1000)

	// A window of 1 and a multiplier of 1 make a checkpoint after every
	// considered event.
	subscription, err := client.SubscribeToAll(ctx, kurrent.SubscribeToAllOptions{
		From:               kurrent.Start{},
		Filter:             &kurrent.SubscriptionFilter{Type: kurrent.StreamFilterType, Prefixes: []string{"order-"}},
		MaxSearchWindow:    1,
		CheckpointInterval: 1,
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer subscription.Close()

	var caughtUpEvents []string
	var checkpoints []kurrent.Position
	for {
		message := fakeNext(t, subscription)
		if message.CaughtUp != nil {
			break
		}
		if message.CheckPointReached != nil {
			checkpoints = append(checkpoints, *message.CheckPointReached)
		}
		if message.EventAppeared != nil {
			caughtUpEvents = append(caughtUpEvents, message.EventAppeared.OriginalEvent().StreamID)
		}
	}
	if got, want := strings.Join(caughtUpEvents, ","), "order-1,order-2"; got != want {
		t.Errorf("catch-up delivered %s, want %s", got, want)
	}
	if len(checkpoints) != len(all) {
		t.Errorf("catch-up sent %d checkpoints, want one per $all event (%d)", len(checkpoints), len(all))
	}
	if len(checkpoints) > 0 && checkpoints[len(checkpoints)-1] != all[len(all)-1].Position {
		t.Errorf("last catch-up checkpoint at %+v, want the last $all position %+v", checkpoints[len(checkpoints)-1], all[len(all)-1].Position)
	}

	for _, stream := range []string{"customer-2", "order-3", "order-1"} {
		if _, err := client.AppendToStream(ctx, stream, kurrent.AppendToStreamOptions{}, fakeEventData("Tested", `{}`)); err != nil {
			t.Fatalf("append to %s: %v", stream, err)
		}
	}
	var liveEvents []string
	liveCheckpoints := 0
	for len(liveEvents) < 2 || liveCheckpoints < 3 {
		message := fakeNext(t, subscription)
		if message.CaughtUp != nil {
			t.Fatal("second caught-up message, want one per subscription")
		}
		if message.CheckPointReached != nil {
			liveCheckpoints++
		}
		if message.EventAppeared != nil {
			liveEvents = append(liveEvents, message.EventAppeared.OriginalEvent().StreamID)
		}
	}
	if got, want := strings.Join(liveEvents, ","), "order-3,order-1"; got != want {
		t.Errorf("live delivered %s, want %s", got, want)
	}
}

func TestFakeSubscribeAllFromPosition(t *testing.T) {
	client := newFakeClient(t, esdbtest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, err := client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{}, fakeEventData("OrderPlaced", `{}`))
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if _, err := client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{}, fakeEventData("OrderPaid", `{}`)); err != nil {
		t.Fatalf("append: %v", err)
	}

	from := kurrent.Position{Commit: first.CommitPosition, Prepare: first.PreparePosition}
	subscription, err := client.SubscribeToAll(ctx, kurrent.SubscribeToAllOptions{From: from})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer subscription.Close()

	message := fakeNext(t, subscription)
	if message.EventAppeared == nil {
		t.Fatalf("first message is %s, want an event", fakeDescribe(message))
	}
	if got := message.EventAppeared.OriginalEvent(); got.EventType != "OrderPaid" {
		t.Errorf("first event after %+v is %s, want OrderPaid (the start position is excluded)", from, got.EventType)
	}
	if message := fakeNext(t, subscription); message.CaughtUp == nil {
		t.Errorf("second message is %s, want caught-up", fakeDescribe(message))
	}
}

func TestFakeSubscribeStream(t *testing.T) {
	client := newFakeClient(t, esdbtest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{}, fakeEventData("OrderPlaced", `{}`), fakeEventData("OrderPaid", `{}`)); err != nil {
		t.Fatalf("append: %v", err)
	}

	subscription, err := client.SubscribeToStream(ctx, "order-1", kurrent.SubscribeToStreamOptions{From: kurrent.Start{}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer subscription.Close()

	for revision := uint64(0); revision < 2; revision++ {
		message := fakeNext(t, subscription)
		if message.EventAppeared == nil || message.EventAppeared.OriginalEvent().EventNumber != revision {
			t.Fatalf("catch-up message is %s, want the event at revision %d", fakeDescribe(message), revision)
		}
	}
	if message := fakeNext(t, subscription); message.CaughtUp == nil {
		t.Fatalf("message after catch-up is %s, want caught-up", fakeDescribe(message))
	}

	if _, err := client.AppendToStream(ctx, "order-2", kurrent.AppendToStreamOptions{}, fakeEventData("OrderPlaced", `{}`)); err != nil {
		t.Fatalf("append to order-2: %v", err)
	}
	if _, err := client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{}, fakeEventData("OrderShipped", `{}`)); err != nil {
		t.Fatalf("append to order-1: %v", err)
	}
	message := fakeNext(t, subscription)
	if message.EventAppeared == nil {
		t.Fatalf("live message is %s, want an event", fakeDescribe(message))
	}
	if got := message.EventAppeared.OriginalEvent(); got.StreamID != "order-1" || got.EventNumber != 2 {
		t.Errorf("live event %s@%d, want order-1@2", got.StreamID, got.EventNumber)
	}
}

func TestFakeStopRestart(t *testing.T) {
	server := esdbtest.Start(t)
	client := newFakeClient(t, server)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{}, fakeEventData("OrderPlaced", `{}`)); err != nil {
		t.Fatalf("append before stop: %v", err)
	}
	subscription, err := client.SubscribeToAll(ctx, kurrent.SubscribeToAllOptions{From: kurrent.End{}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer subscription.Close()
	if message := fakeNext(t, subscription); message.CaughtUp == nil {
		t.Fatalf("first message is %s, want caught-up", fakeDescribe(message))
	}
	discoveriesBeforeStop := server.Discoveries()

	server.Stop()
	message := subscription.Recv()
	if message.SubscriptionDropped == nil {
		t.Fatalf("message after stop is %s, want a dropped subscription", fakeDescribe(message))
	}
	if code := status.Code(message.SubscriptionDropped.Error); code != codes.Unavailable {
		t.Errorf("subscription dropped with %v, want gRPC code Unavailable", message.SubscriptionDropped.Error)
	}

	// While the server is down a call fails with Unavailable. Only one call
	// is made here, because the next one would make the client close
	// itself (see TestFakeFailedDiscoveryClosesClient).
	_, err = client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{}, fakeEventData("OrderPaid", `{}`))
	if code, _ := fakeErrorCode(err); code != kurrent.ErrorUnavailable {
		t.Errorf("append while stopped returned %v, want code ErrorUnavailable (%d)", err, kurrent.ErrorUnavailable)
	}

	server.Restart(t)
	result, err := client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.StreamRevision{Value: 0}}, fakeEventData("OrderPaid", `{}`))
	if err != nil {
		t.Fatalf("append after restart: %v", err)
	}
	if result.NextExpectedVersion != 1 {
		t.Errorf("append after restart wrote revision %d, want 1 (the log survives the restart)", result.NextExpectedVersion)
	}
	if server.Discoveries() == discoveriesBeforeStop {
		t.Errorf("the client made no new discovery after the Unavailable error")
	}

	events := fakeReadStreamEvents(t, client, "order-1", kurrent.ReadStreamOptions{}, 10)
	if len(events) != 2 {
		t.Errorf("order-1 has %d events after the restart, want 2", len(events))
	}
}

// After a call fails with Unavailable, the v4.2.0 client discovers the node
// again on the next call. When that discovery fails (10 attempts, 100 ms
// apart by default), the client closes itself for good, and every later
// call fails with ErrorCodeConnectionClosed even after the server is back.
// An adapter has to create a new client then.
func TestFakeFailedDiscoveryClosesClient(t *testing.T) {
	server := esdbtest.Start(t)
	client := newFakeClient(t, server)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	appendOrder := func() error {
		_, err := client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{}, fakeEventData("OrderPlaced", `{}`))
		return err
	}
	if err := appendOrder(); err != nil {
		t.Fatalf("append before stop: %v", err)
	}

	server.Stop()
	if code, _ := fakeErrorCode(appendOrder()); code != kurrent.ErrorUnavailable {
		t.Errorf("first append while stopped: code %d, want ErrorUnavailable (%d)", code, kurrent.ErrorUnavailable)
	}
	if code, _ := fakeErrorCode(appendOrder()); code != kurrent.ErrorUnavailable {
		t.Errorf("second append while stopped, whose discovery fails: code %d, want ErrorUnavailable (%d)", code, kurrent.ErrorUnavailable)
	}

	server.Restart(t)
	err := appendOrder()
	if code, _ := fakeErrorCode(err); code != kurrent.ErrorCodeConnectionClosed {
		t.Errorf("append after restart returned %v, want code ErrorCodeConnectionClosed (%d)", err, kurrent.ErrorCodeConnectionClosed)
	}

	fresh := newFakeClient(t, server)
	if _, err := fresh.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.StreamRevision{Value: 0}}, fakeEventData("OrderPaid", `{}`)); err != nil {
		t.Errorf("append with a new client after restart: %v", err)
	}
}

// The client pings every 10 s. An idle subscription survives past the third
// ping, at about 30 s, only if the server permits those pings.
func TestFakeKeepalive(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 35 s")
	}
	t.Parallel()
	client := newFakeClient(t, esdbtest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	subscription, err := client.SubscribeToAll(ctx, kurrent.SubscribeToAllOptions{From: kurrent.End{}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer subscription.Close()
	if message := fakeNext(t, subscription); message.CaughtUp == nil {
		t.Fatalf("first message is %s, want caught-up", fakeDescribe(message))
	}

	time.Sleep(35 * time.Second)
	if _, err := client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{}, fakeEventData("OrderPlaced", `{}`)); err != nil {
		t.Fatalf("append after 35 s: %v", err)
	}
	message := fakeNext(t, subscription)
	if message.EventAppeared == nil {
		t.Fatalf("message after 35 s is %s, want the new event", fakeDescribe(message))
	}
}

// fakeDescribe formats a subscription message for failure output.
func fakeDescribe(message *kurrent.SubscriptionEvent) string {
	switch {
	case message.EventAppeared != nil:
		e := message.EventAppeared.OriginalEvent()
		return fmt.Sprintf("event %s@%d", e.StreamID, e.EventNumber)
	case message.CheckPointReached != nil:
		return fmt.Sprintf("checkpoint %+v", *message.CheckPointReached)
	case message.CaughtUp != nil:
		return "caught-up"
	case message.SubscriptionDropped != nil:
		return fmt.Sprintf("dropped: %v", message.SubscriptionDropped.Error)
	default:
		return "fell behind"
	}
}
