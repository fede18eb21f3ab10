package esdb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	kurrent "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
)

// This file holds a test-only, in-process server that speaks the
// EventStoreDB gRPC protocol as defined by the .proto files of
// EventStore-Client-Go v4.2.0, and tests that run that client against it.
//
// Supported calls: Streams.Read (stream and $all reads in both directions,
// $all filters, catch-up subscriptions to a stream and to $all),
// Streams.Append, and ServerFeatures.GetSupportedMethods, which returns
// Unimplemented. Delete, Tombstone, BatchAppend, persistent subscriptions,
// projections, gossip and authentication are not implemented, and the
// server stores no link events, so resolve_links has no effect.

const (
	// fakeFirstPosition and fakePositionStep space the $all positions
	// (commit = prepare = fakeFirstPosition + index*fakePositionStep), so
	// that a test cannot mistake a position for an index or a count.
	fakeFirstPosition uint64 = 4_000_000
	fakePositionStep  uint64 = 137

	// fakeDefaultSearchWindow is the filter window when a request sets no
	// max. NOTE: EventStoreDB uses its read batch size there; 32 is the
	// default max search window of the v4.2.0 client.
	fakeDefaultSearchWindow = 32

	// fakeGracefulStopTimeout bounds how long stop waits for calls to end
	// before it closes the connections.
	fakeGracefulStopTimeout = 2 * time.Second
)

// fakeServer serves an in-memory event log on a loopback port. The log
// survives stop and restart, and restart listens on the same port.
type fakeServer struct {
	log     *fakeLog
	address string // host:port on 127.0.0.1

	// discoveries counts ServerFeatures.GetSupportedMethods calls. The
	// client makes one each time it discovers the node, on its first call
	// and after a call fails with Unavailable.
	discoveries atomic.Int64

	mu      sync.Mutex
	serving *fakeServing // nil while stopped
	closed  bool
}

// fakeServing is one run of the server, from start or restart to stop.
type fakeServing struct {
	grpcServer *grpc.Server
	// stopping is closed by stop, so that subscriptions and appends still
	// running end with Unavailable.
	stopping chan struct{}
	// served is closed when Serve returns.
	served chan struct{}
}

// startFakeServer starts a server on 127.0.0.1 with a free port and
// registers its close as a cleanup of t.
func startFakeServer(t testing.TB) *fakeServer {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake EventStoreDB server: listen on 127.0.0.1:0 failed: %v", err)
	}
	s := &fakeServer{log: newFakeLog(), address: listener.Addr().String()}
	s.serve(listener)
	t.Cleanup(s.close)
	return s
}

// connectionString returns the client connection string of the server,
// without TLS ("tls=false" sets the client's DisableTLS).
func (s *fakeServer) connectionString() string {
	return "esdb://" + s.address + "?tls=false"
}

func (s *fakeServer) serve(listener net.Listener) {
	grpcServer := grpc.NewServer(
		// The client pings every 10 s even without open calls. With the
		// default policy (5 min, no pings without calls) the server would
		// reply to the third ping with GOAWAY "too_many_pings" and drop idle
		// subscriptions after about 30 s.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             time.Second,
			PermitWithoutStream: true,
		}),
	)
	serving := &fakeServing{grpcServer: grpcServer, stopping: make(chan struct{}), served: make(chan struct{})}
	streams.RegisterStreamsServer(grpcServer, &fakeStreamsService{log: s.log, stopping: serving.stopping})
	serverfeatures.RegisterServerFeaturesServer(grpcServer, &fakeFeaturesService{discoveries: &s.discoveries})

	go func() {
		defer close(serving.served)
		// Serve returns nil or grpc.ErrServerStopped after stop, and an
		// accept error only if the listener fails, which tests then see as
		// refused connections.
		_ = grpcServer.Serve(listener)
	}()

	s.mu.Lock()
	s.serving = serving
	s.mu.Unlock()
}

// stop closes the listener and every connection, and keeps the log.
// Subscriptions and appends still running end with Unavailable. stop does
// nothing when the server is already stopped.
func (s *fakeServer) stop() {
	s.mu.Lock()
	serving := s.serving
	s.serving = nil
	s.mu.Unlock()
	if serving == nil {
		return
	}

	// Ending the calls first lets the client read the Unavailable status
	// from their trailers. GracefulStop then closes the listener, sends
	// GOAWAY and waits for the calls, and Stop cuts the connections of any
	// call that is still blocked, such as a Send to a client that stopped
	// reading.
	close(serving.stopping)
	stopped := make(chan struct{})
	go func() {
		serving.grpcServer.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(fakeGracefulStopTimeout):
		serving.grpcServer.Stop()
		<-stopped
	}
	<-serving.served
}

// restart listens again on the port of the first start and serves the same
// log. It fails the test when the server is running or closed, or when the
// port stays taken for 5 s.
func (s *fakeServer) restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	running, closed := s.serving != nil, s.closed
	s.mu.Unlock()
	if closed {
		t.Fatalf("fake EventStoreDB server on %s: restart after close", s.address)
	}
	if running {
		t.Fatalf("fake EventStoreDB server on %s: restart while running; call stop first", s.address)
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		listener, err := net.Listen("tcp", s.address)
		if err == nil {
			s.serve(listener)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake EventStoreDB server: listen on %s again failed: %v", s.address, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// close stops the server for good.
func (s *fakeServer) close() {
	s.stop()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// fakeEvent is one recorded event. Events never change after the append.
type fakeEvent struct {
	id             uuid.UUID
	stream         string
	revision       uint64
	position       uint64 // the commit and the prepare position, which are equal here
	eventType      string
	contentType    string
	created        int64 // .NET ticks (100 ns) since the Unix epoch
	customMetadata []byte
	data           []byte
}

// fakeLog is the in-memory database: $all in commit order and each stream
// in revision order, both holding the same events.
type fakeLog struct {
	mu      sync.Mutex
	all     []*fakeEvent
	streams map[string][]*fakeEvent
	// appended is closed and replaced after each append that writes, to
	// wake the subscriptions.
	appended chan struct{}
}

// newFakeLog returns a log whose $all starts with system events (stream
// names and event types that start with "$"), as a new EventStoreDB
// database does, so that readers of $all have to filter them out.
func newFakeLog() *fakeLog {
	l := &fakeLog{streams: make(map[string][]*fakeEvent), appended: make(chan struct{})}
	created := time.Now().UnixNano() / 100
	systemEvents := []struct{ stream, eventType, data string }{
		{"$settings", "$settings", `{"$userStreamAcl":{"$r":"$all","$w":"$all"},"$systemStreamAcl":{"$r":"$admins","$w":"$admins"}}`},
		{"$$$scavenges", "$metadata", `{"$maxAge":2592000}`},
		{"$user-admin", "$user", `{"loginName":"admin","fullName":"Event Store Administrator"}`},
		{"$users", "$User", `{"loginName":"admin"}`},
	}
	for _, e := range systemEvents {
		l.appendLocked(&fakeEvent{
			id:          uuid.New(),
			stream:      e.stream,
			eventType:   e.eventType,
			contentType: "application/json",
			created:     created,
			data:        []byte(e.data),
		})
	}
	return l
}

// appendLocked gives e the next revision of its stream and the next $all
// position, and stores it. The caller holds l.mu or owns l.
func (l *fakeLog) appendLocked(e *fakeEvent) {
	e.revision = uint64(len(l.streams[e.stream]))
	e.position = fakeFirstPosition + uint64(len(l.all))*fakePositionStep
	l.all = append(l.all, e)
	l.streams[e.stream] = append(l.streams[e.stream], e)
}

// snapshotAll returns $all as it is now and a channel that is closed on
// the next append. The slice stays valid: appends only write past its end.
func (l *fakeLog) snapshotAll() ([]*fakeEvent, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all, l.appended
}

// snapshotStream is snapshotAll for one stream. found is false when the
// stream has no events.
func (l *fakeLog) snapshotStream(name string) (events []*fakeEvent, found bool, appended <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	events = l.streams[name]
	return events, len(events) > 0, l.appended
}

// append checks the expected revision and writes proposed to the stream as
// one transaction. A retry of an append that was written returns the
// result of that append and writes nothing, by the rules in checkRetryLocked.
func (l *fakeLog) append(name string, options *streams.AppendReq_Options, proposed []*fakeEvent) *streams.AppendResp {
	l.mu.Lock()
	defer l.mu.Unlock()
	existing := l.streams[name]

	switch check, last := l.checkRetryLocked(name, options, proposed); check {
	case fakeRetry:
		return fakeAppendSuccess(last)
	case fakePartialRetry:
		return fakeWrongExpectedVersion(existing, options)
	}
	if !fakeExpectationMet(existing, options) {
		return fakeWrongExpectedVersion(existing, options)
	}
	if len(proposed) == 0 {
		return fakeEmptyAppendSuccess(existing)
	}

	created := time.Now().UnixNano() / 100
	for _, e := range proposed {
		e.stream = name
		e.created = created
		l.appendLocked(e)
	}
	close(l.appended)
	l.appended = make(chan struct{})
	return fakeAppendSuccess(proposed[len(proposed)-1])
}

// fakeRetryCheck is the outcome of comparing an append with stored events.
type fakeRetryCheck int

const (
	// fakeNewAppend: the append is not a retry, so the expected revision
	// decides.
	fakeNewAppend fakeRetryCheck = iota
	// fakeRetry: every event is stored, so the append succeeds without
	// writing.
	fakeRetry
	// fakePartialRetry: the first event is stored and a later one is
	// not. EventStoreDB rejects such an append with wrong expected version.
	fakePartialRetry
)

// checkRetryLocked decides whether proposed repeats an append that was
// written, with the rules of IndexWriter.CheckCommit in the KurrentDB
// (formerly EventStoreDB) server, file
// src/EventStore.Core/Services/Storage/ReaderIndex/IndexWriter.cs:
//   - any and stream_exists: each event id is looked up in the stream,
//     wherever it is; the revisions need not be consecutive;
//   - an exact revision or no_stream below the current revision: the
//     events after that revision must carry the proposed ids in order;
//   - an exact revision equal to the current one is never a retry, so
//     the same events are written again.
//
// last is the stored event whose result a retry returns. The caller holds
// l.mu. NOTE: EventStoreDB looks ids up for any and stream_exists in a
// bounded in-memory cache, so it can miss a retry of old events that
// this log still recognises.
func (l *fakeLog) checkRetryLocked(name string, options *streams.AppendReq_Options, proposed []*fakeEvent) (check fakeRetryCheck, last *fakeEvent) {
	existing := l.streams[name]
	if len(proposed) == 0 || len(existing) == 0 {
		return fakeNewAppend, nil
	}

	var next uint64 // the revision the first proposed event would have if this were a retry
	switch expected := options.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Any, *streams.AppendReq_Options_StreamExists:
		for i, e := range proposed {
			stored := l.findInStreamLocked(name, e.id)
			if stored == nil && i == 0 {
				return fakeNewAppend, nil
			}
			if stored == nil {
				return fakePartialRetry, nil
			}
			last = stored
		}
		return fakeRetry, last
	case *streams.AppendReq_Options_NoStream:
		next = 0
	case *streams.AppendReq_Options_Revision:
		if expected.Revision >= uint64(len(existing))-1 {
			return fakeNewAppend, nil
		}
		next = expected.Revision + 1
	default:
		return fakeNewAppend, nil
	}

	for i, e := range proposed {
		revision := next + uint64(i)
		if revision < uint64(len(existing)) && existing[revision].id == e.id {
			last = existing[revision]
			continue
		}
		if i == 0 {
			return fakeNewAppend, nil
		}
		return fakePartialRetry, nil
	}
	return fakeRetry, last
}

// findInStreamLocked returns the event of the stream with the id, or nil.
func (l *fakeLog) findInStreamLocked(name string, id uuid.UUID) *fakeEvent {
	for _, e := range l.streams[name] {
		if e.id == id {
			return e
		}
	}
	return nil
}

func fakeExpectationMet(existing []*fakeEvent, options *streams.AppendReq_Options) bool {
	switch expected := options.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Any:
		return true
	case *streams.AppendReq_Options_NoStream:
		return len(existing) == 0
	case *streams.AppendReq_Options_StreamExists:
		return len(existing) > 0
	case *streams.AppendReq_Options_Revision:
		return len(existing) > 0 && existing[len(existing)-1].revision == expected.Revision
	default:
		return false
	}
}

func fakeAppendSuccess(last *fakeEvent) *streams.AppendResp {
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: &streams.AppendResp_Success{
		CurrentRevisionOption: &streams.AppendResp_Success_CurrentRevision{CurrentRevision: last.revision},
		PositionOption: &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition:  last.position,
			PreparePosition: last.position,
		}},
	}}}
}

// fakeEmptyAppendSuccess returns the result of an append without events,
// which writes nothing and so has no position.
func fakeEmptyAppendSuccess(existing []*fakeEvent) *streams.AppendResp {
	success := &streams.AppendResp_Success{PositionOption: &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}}
	if len(existing) == 0 {
		success.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	} else {
		success.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: existing[len(existing)-1].revision}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: success}}
}

// fakeWrongExpectedVersion reports the current and the expected revision
// in the current fields, which the v4.2.0 client reads, and also in the
// fields for 20.6.0 clients where those can express them.
func fakeWrongExpectedVersion(existing []*fakeEvent, options *streams.AppendReq_Options) *streams.AppendResp {
	wrong := &streams.AppendResp_WrongExpectedVersion{}
	if len(existing) == 0 {
		wrong.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
		wrong.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
	} else {
		current := existing[len(existing)-1].revision
		wrong.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: current}
		wrong.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: current}
	}

	switch expected := options.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Revision:
		wrong.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: expected.Revision}
		wrong.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: expected.Revision}
	case *streams.AppendReq_Options_NoStream:
		// The 20.6.0 fields have no case for no_stream.
		wrong.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case *streams.AppendReq_Options_StreamExists:
		wrong.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
		wrong.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
	case *streams.AppendReq_Options_Any:
		wrong.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
		wrong.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: wrong}}
}

// fakeComparePosition orders e against the $all position (commit,
// prepare): -1 before it, 0 at it, 1 after it.
func fakeComparePosition(e *fakeEvent, commit, prepare uint64) int {
	switch {
	case e.position < commit:
		return -1
	case e.position > commit:
		return 1
	case e.position < prepare:
		return -1
	case e.position > prepare:
		return 1
	default:
		return 0
	}
}

// fakeSearchAll returns the index of the first event of all at or after
// the position when inclusive, or after it otherwise.
func fakeSearchAll(all []*fakeEvent, position *streams.ReadReq_Options_Position, inclusive bool) int {
	commit, prepare := position.GetCommitPosition(), position.GetPreparePosition()
	return sort.Search(len(all), func(i int) bool {
		c := fakeComparePosition(all[i], commit, prepare)
		if inclusive {
			return c >= 0
		}
		return c > 0
	})
}

// fakeFilter is a server-side filter of $all on stream names or on event
// types, by prefixes or by a regular expression.
type fakeFilter struct {
	byEventType bool
	prefixes    []string
	// regex uses Go's RE2 syntax. NOTE: EventStoreDB uses .NET regular
	// expressions, which accept more syntax (lookarounds, backreferences).
	regex *regexp.Regexp
	// checkpointInterval is the number of $all events a filtered
	// subscription considers between two checkpoints: the search window
	// times checkpointIntervalMultiplier, as in EventStoreDB.
	checkpointInterval int
}

func newFakeFilter(options *streams.ReadReq_Options_FilterOptions, subscription bool) (*fakeFilter, error) {
	filter := &fakeFilter{}
	expression := options.GetStreamIdentifier()
	if eventType := options.GetEventType(); eventType != nil {
		filter.byEventType = true
		expression = eventType
	}
	if expression == nil {
		return nil, status.Error(codes.InvalidArgument, "invalid filter: set stream_identifier or event_type")
	}

	prefixes, regex := expression.GetPrefix(), expression.GetRegex()
	switch {
	case len(prefixes) > 0 && regex != "":
		return nil, status.Error(codes.InvalidArgument, "invalid filter: set prefixes or a regex, not both")
	case len(prefixes) > 0:
		filter.prefixes = prefixes
	case regex != "":
		compiled, err := regexp.Compile(regex)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "invalid filter regex %q: %v", regex, err)
		}
		filter.regex = compiled
	default:
		return nil, status.Error(codes.InvalidArgument, "invalid filter: set prefixes or a regex")
	}

	window := fakeDefaultSearchWindow
	if max := options.GetMax(); max > 0 {
		window = int(max)
	}
	multiplier := options.GetCheckpointIntervalMultiplier()
	if subscription && multiplier == 0 {
		return nil, status.Error(codes.InvalidArgument, "invalid filter: checkpointIntervalMultiplier must be at least 1 for a subscription")
	}
	filter.checkpointInterval = window * int(multiplier)
	return filter, nil
}

// matches reports whether e passes the filter. A nil filter passes every
// event.
func (f *fakeFilter) matches(e *fakeEvent) bool {
	if f == nil {
		return true
	}
	subject := e.stream
	if f.byEventType {
		subject = e.eventType
	}
	if f.regex != nil {
		return f.regex.MatchString(subject)
	}
	for _, prefix := range f.prefixes {
		if strings.HasPrefix(subject, prefix) {
			return true
		}
	}
	return false
}

// fakeFeaturesService returns Unimplemented from GetSupportedMethods. The
// v4.2.0 client then treats the server as one that predates the features
// API and uses only Streams.Read and Streams.Append, no BatchAppend.
type fakeFeaturesService struct {
	serverfeatures.UnimplementedServerFeaturesServer
	discoveries *atomic.Int64
}

func (f *fakeFeaturesService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	f.discoveries.Add(1)
	return nil, status.Error(codes.Unimplemented, "the fake EventStoreDB server has no server features API")
}

// fakeStreamsService implements Streams.Read and Streams.Append on a
// fakeLog. Delete, Tombstone and BatchAppend return Unimplemented.
type fakeStreamsService struct {
	streams.UnimplementedStreamsServer
	log      *fakeLog
	stopping <-chan struct{}
}

func fakeUnavailable() error {
	return status.Error(codes.Unavailable, "the fake EventStoreDB server is stopping")
}

// Append reads the options message and every proposed message before it
// sends the response, as EventStoreDB does.
func (svc *fakeStreamsService) Append(call streams.Streams_AppendServer) error {
	first, err := call.Recv()
	if errors.Is(err, io.EOF) {
		return status.Error(codes.InvalidArgument, "invalid append: the request has no options message")
	}
	if err != nil {
		return err
	}
	options := first.GetOptions()
	if options == nil {
		return status.Error(codes.InvalidArgument, "invalid append: the first message must be the options")
	}
	name := string(options.GetStreamIdentifier().GetStreamName())
	if name == "" || name == "$all" {
		return status.Errorf(codes.InvalidArgument, "invalid append: stream name %q", name)
	}
	if options.GetExpectedStreamRevision() == nil {
		return status.Error(codes.InvalidArgument, "invalid append: the options set no expected revision")
	}

	var proposed []*fakeEvent
	for {
		message, err := call.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		event, err := fakeEventFromProposal(message.GetProposedMessage())
		if err != nil {
			return err
		}
		proposed = append(proposed, event)
	}

	select {
	case <-svc.stopping:
		return fakeUnavailable()
	default:
	}
	return call.SendAndClose(svc.log.append(name, options, proposed))
}

func fakeEventFromProposal(message *streams.AppendReq_ProposedMessage) (*fakeEvent, error) {
	if message == nil {
		return nil, status.Error(codes.InvalidArgument, "invalid append: every message after the options must be a proposed message")
	}
	id, err := fakeParseUUID(message.GetId())
	if err != nil {
		return nil, err
	}
	metadata := message.GetMetadata()
	if metadata["type"] == "" {
		return nil, status.Errorf(codes.InvalidArgument, "invalid append: event %s has no \"type\" metadata", id)
	}
	if metadata["content-type"] == "" {
		return nil, status.Errorf(codes.InvalidArgument, "invalid append: event %s has no \"content-type\" metadata", id)
	}
	// EventStoreDB stores only whether the data is JSON, so it returns any
	// other content type as application/octet-stream.
	contentType := "application/octet-stream"
	if metadata["content-type"] == "application/json" {
		contentType = "application/json"
	}
	return &fakeEvent{
		id:             id,
		eventType:      metadata["type"],
		contentType:    contentType,
		customMetadata: message.GetCustomMetadata(),
		data:           message.GetData(),
	}, nil
}

// fakeParseUUID reads a UUID in either form of shared.UUID. The structured
// form holds the 16 bytes as two big-endian int64 values, as the client's
// UUIDAsInt64 writes them.
func fakeParseUUID(id *shared.UUID) (uuid.UUID, error) {
	if structured := id.GetStructured(); structured != nil {
		var parsed uuid.UUID
		binary.BigEndian.PutUint64(parsed[:8], uint64(structured.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(parsed[8:], uint64(structured.GetLeastSignificantBits()))
		return parsed, nil
	}
	parsed, err := uuid.Parse(id.GetString_())
	if err != nil {
		return uuid.Nil, status.Errorf(codes.InvalidArgument, "invalid event id %q: %v", id.GetString_(), err)
	}
	return parsed, nil
}

// fakeReader sends the messages of one Read call. A read sends only event
// messages or one stream-not-found message, because the v4.2.0 client
// panics on any other message in a read. A subscription also sends a
// confirmation, checkpoints and one caught-up message.
type fakeReader struct {
	call          streams.Streams_ReadServer
	structuredIDs bool
}

// sendEvent sends e with its $all position, also in stream reads and
// stream subscriptions. NOTE: EventStoreDB fills the positions from the
// read result, and some versions send no_position and 2^64-1 positions for
// events read from a stream, so adapters should take positions from $all
// reads and subscriptions only.
func (r fakeReader) sendEvent(e *fakeEvent) error {
	id := &shared.UUID{Value: &shared.UUID_String_{String_: e.id.String()}}
	if r.structuredIDs {
		id = &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
			MostSignificantBits:  int64(binary.BigEndian.Uint64(e.id[:8])),
			LeastSignificantBits: int64(binary.BigEndian.Uint64(e.id[8:])),
		}}}
	}
	recorded := &streams.ReadResp_ReadEvent_RecordedEvent{
		Id:               id,
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(e.stream)},
		StreamRevision:   e.revision,
		PreparePosition:  e.position,
		CommitPosition:   e.position,
		// The client calls log.Fatalf when "created" is missing or is not
		// an integer.
		Metadata: map[string]string{
			"type":         e.eventType,
			"content-type": e.contentType,
			"created":      strconv.FormatInt(e.created, 10),
		},
		CustomMetadata: e.customMetadata,
		Data:           e.data,
	}
	return r.call.Send(&streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event:    recorded,
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: e.position},
	}}})
}

func (r fakeReader) sendStreamNotFound(name string) error {
	return r.call.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{StreamNotFound: &streams.ReadResp_StreamNotFound{
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)},
	}}})
}

func (r fakeReader) sendConfirmation() error {
	return r.call.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{Confirmation: &streams.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString(),
	}}})
}

func (r fakeReader) sendCaughtUp() error {
	return r.call.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}})
}

func (r fakeReader) sendCheckpoint(position uint64) error {
	return r.call.Send(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{
		CommitPosition:  position,
		PreparePosition: position,
	}}})
}

// Read serves reads and catch-up subscriptions of a stream or of $all.
func (svc *fakeStreamsService) Read(request *streams.ReadReq, call streams.Streams_ReadServer) error {
	options := request.GetOptions()
	if options == nil {
		return status.Error(codes.InvalidArgument, "invalid read: the request has no options")
	}
	subscription := options.GetSubscription() != nil
	backwards := options.GetReadDirection() == streams.ReadReq_Options_Backwards
	if subscription && backwards {
		return status.Error(codes.InvalidArgument, "invalid read: a subscription reads forwards only")
	}

	var filter *fakeFilter
	if filterOptions := options.GetFilter(); filterOptions != nil {
		if options.GetAll() == nil {
			return status.Error(codes.InvalidArgument, "invalid read: a filter applies to $all only")
		}
		var err error
		filter, err = newFakeFilter(filterOptions, subscription)
		if err != nil {
			return err
		}
	}

	// EventStoreDB sends string ids only when the request sets that option.
	reader := fakeReader{call: call, structuredIDs: options.GetUuidOption().GetString_() == nil}
	switch {
	case options.GetStream() != nil && subscription:
		return svc.subscribeStream(reader, options.GetStream())
	case options.GetStream() != nil:
		return svc.readStream(reader, options.GetStream(), options.GetCount(), backwards)
	case options.GetAll() != nil && subscription:
		return svc.subscribeAll(reader, options.GetAll(), filter)
	case options.GetAll() != nil:
		return svc.readAll(reader, options.GetAll(), options.GetCount(), backwards, filter)
	default:
		return status.Error(codes.InvalidArgument, "invalid read: set a stream or $all")
	}
}

// readStream sends up to count events from a revision, which is included,
// or one stream-not-found message when the stream has no events.
func (svc *fakeStreamsService) readStream(reader fakeReader, options *streams.ReadReq_Options_StreamOptions, count uint64, backwards bool) error {
	name := string(options.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return status.Error(codes.InvalidArgument, "invalid read: empty stream name")
	}
	events, found, _ := svc.log.snapshotStream(name)
	if !found {
		return reader.sendStreamNotFound(name)
	}
	length := uint64(len(events))

	var next uint64
	switch from := options.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Start:
		next = 0
	case *streams.ReadReq_Options_StreamOptions_End:
		next = length // forwards: nothing left; backwards: clamped to the last event below
	case *streams.ReadReq_Options_StreamOptions_Revision:
		next = from.Revision
	default:
		return status.Error(codes.InvalidArgument, "invalid read: set a start revision, start or end")
	}

	if backwards {
		next = min(next, length-1)
		for sent := uint64(0); sent < count; sent++ {
			if err := reader.sendEvent(events[next]); err != nil {
				return err
			}
			if next == 0 {
				break
			}
			next--
		}
		return nil
	}
	for sent := uint64(0); sent < count && next < length; sent++ {
		if err := reader.sendEvent(events[next]); err != nil {
			return err
		}
		next++
	}
	return nil
}

// readAll sends up to count events of $all that pass the filter. Forwards,
// the read starts at the position (included); backwards, it starts before
// the position. NOTE: the backwards bound is from EventStoreDB's
// ReadAllEventsBackward as understood here, not checked against a server.
func (svc *fakeStreamsService) readAll(reader fakeReader, options *streams.ReadReq_Options_AllOptions, count uint64, backwards bool, filter *fakeFilter) error {
	all, _ := svc.log.snapshotAll()

	var next int // the first index to read forwards, or one past the first index to read backwards
	switch from := options.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Start:
		next = 0
	case *streams.ReadReq_Options_AllOptions_End:
		next = len(all)
	case *streams.ReadReq_Options_AllOptions_Position:
		next = fakeSearchAll(all, from.Position, true)
	default:
		return status.Error(codes.InvalidArgument, "invalid read: set a start position, start or end")
	}

	sent := uint64(0)
	if backwards {
		for i := next - 1; i >= 0 && sent < count; i-- {
			if !filter.matches(all[i]) {
				continue
			}
			if err := reader.sendEvent(all[i]); err != nil {
				return err
			}
			sent++
		}
		return nil
	}
	for i := next; i < len(all) && sent < count; i++ {
		if !filter.matches(all[i]) {
			continue
		}
		if err := reader.sendEvent(all[i]); err != nil {
			return err
		}
		sent++
	}
	return nil
}

// subscribeAll sends a confirmation, the stored events after the start
// position (excluded), one caught-up message, then every new event. Each
// message is read from the log at an index that only grows, so no event
// is sent twice or skipped between catch-up and live.
//
// A filtered subscription also sends a checkpoint each time it has
// considered checkpointInterval events of $all, matched or not, in
// catch-up and live alike. The checkpoint carries the position of the last
// considered event, so a subscription from that position (excluded)
// misses nothing. NOTE: EventStoreDB counts whole pages of the search
// window in catch-up, so its checkpoints come at other events.
func (svc *fakeStreamsService) subscribeAll(reader fakeReader, options *streams.ReadReq_Options_AllOptions, filter *fakeFilter) error {
	all, _ := svc.log.snapshotAll()
	var next int
	switch from := options.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Start:
		next = 0
	case *streams.ReadReq_Options_AllOptions_End:
		next = len(all)
	case *streams.ReadReq_Options_AllOptions_Position:
		next = fakeSearchAll(all, from.Position, false)
	default:
		return status.Error(codes.InvalidArgument, "invalid subscription: set a start position, start or end")
	}

	if err := reader.sendConfirmation(); err != nil {
		return err
	}
	considered := 0
	caughtUp := false
	for {
		all, appended := svc.log.snapshotAll()
		for ; next < len(all); next++ {
			if err := svc.checkStopping(); err != nil {
				return err
			}
			e := all[next]
			if filter.matches(e) {
				if err := reader.sendEvent(e); err != nil {
					return err
				}
			}
			if filter == nil {
				continue
			}
			considered++
			if considered >= filter.checkpointInterval {
				considered = 0
				if err := reader.sendCheckpoint(e.position); err != nil {
					return err
				}
			}
		}

		if !caughtUp {
			caughtUp = true
			if err := reader.sendCaughtUp(); err != nil {
				return err
			}
		}
		if err := svc.waitForAppend(reader.call.Context(), appended); err != nil {
			return err
		}
	}
}

// subscribeStream sends a confirmation, the stored events of the stream
// after the start revision (excluded), one caught-up message, then every
// new event of the stream. A stream without events is not an error: the
// subscription waits for its first event.
func (svc *fakeStreamsService) subscribeStream(reader fakeReader, options *streams.ReadReq_Options_StreamOptions) error {
	name := string(options.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return status.Error(codes.InvalidArgument, "invalid subscription: empty stream name")
	}
	events, _, _ := svc.log.snapshotStream(name)
	var next uint64
	switch from := options.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Start:
		next = 0
	case *streams.ReadReq_Options_StreamOptions_End:
		next = uint64(len(events))
	case *streams.ReadReq_Options_StreamOptions_Revision:
		next = from.Revision + 1
	default:
		return status.Error(codes.InvalidArgument, "invalid subscription: set a start revision, start or end")
	}

	if err := reader.sendConfirmation(); err != nil {
		return err
	}
	caughtUp := false
	for {
		events, _, appended := svc.log.snapshotStream(name)
		for ; next < uint64(len(events)); next++ {
			if err := svc.checkStopping(); err != nil {
				return err
			}
			if err := reader.sendEvent(events[next]); err != nil {
				return err
			}
		}

		if !caughtUp {
			caughtUp = true
			if err := reader.sendCaughtUp(); err != nil {
				return err
			}
		}
		if err := svc.waitForAppend(reader.call.Context(), appended); err != nil {
			return err
		}
	}
}

func (svc *fakeStreamsService) checkStopping() error {
	select {
	case <-svc.stopping:
		return fakeUnavailable()
	default:
		return nil
	}
}

// waitForAppend returns nil after the next append, Unavailable when the
// server stops, and the context's status when the client ends the call.
func (svc *fakeStreamsService) waitForAppend(ctx context.Context, appended <-chan struct{}) error {
	select {
	case <-appended:
		return nil
	case <-svc.stopping:
		return fakeUnavailable()
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// Tests of the fake server with the real client.

func newFakeClient(t *testing.T, server *fakeServer) *kurrent.Client {
	t.Helper()
	config, err := kurrent.ParseConnectionString(server.connectionString())
	if err != nil {
		t.Fatalf("parse connection string %q: %v", server.connectionString(), err)
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
	client := newFakeClient(t, startFakeServer(t))
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
	client := newFakeClient(t, startFakeServer(t))
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
	client := newFakeClient(t, startFakeServer(t))
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
	client := newFakeClient(t, startFakeServer(t))
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
		if e.Position.Commit < fakeFirstPosition || e.Position.Prepare != e.Position.Commit {
			t.Errorf("event %d: position %+v, want commit = prepare >= %d", i, e.Position, fakeFirstPosition)
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
	client := newFakeClient(t, startFakeServer(t))
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

func TestFakeReadAll(t *testing.T) {
	client := newFakeClient(t, startFakeServer(t))
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
	server := startFakeServer(t)
	client := newFakeClient(t, server)
	ctx := context.Background()
	for _, stream := range []string{"order-1", "customer-1", "order-2", "order-1"} {
		if _, err := client.AppendToStream(ctx, stream, kurrent.AppendToStreamOptions{}, fakeEventData("Tested", `{}`)); err != nil {
			t.Fatalf("append to %s: %v", stream, err)
		}
	}

	connection, err := grpc.NewClient(server.address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("create gRPC connection to %s: %v", server.address, err)
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
	client := newFakeClient(t, startFakeServer(t))
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
	client := newFakeClient(t, startFakeServer(t))
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
	client := newFakeClient(t, startFakeServer(t))
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
	server := startFakeServer(t)
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
	discoveriesBeforeStop := server.discoveries.Load()

	server.stop()
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

	server.restart(t)
	result, err := client.AppendToStream(ctx, "order-1", kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.StreamRevision{Value: 0}}, fakeEventData("OrderPaid", `{}`))
	if err != nil {
		t.Fatalf("append after restart: %v", err)
	}
	if result.NextExpectedVersion != 1 {
		t.Errorf("append after restart wrote revision %d, want 1 (the log survives the restart)", result.NextExpectedVersion)
	}
	if server.discoveries.Load() == discoveriesBeforeStop {
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
	server := startFakeServer(t)
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

	server.stop()
	if code, _ := fakeErrorCode(appendOrder()); code != kurrent.ErrorUnavailable {
		t.Errorf("first append while stopped: code %d, want ErrorUnavailable (%d)", code, kurrent.ErrorUnavailable)
	}
	if code, _ := fakeErrorCode(appendOrder()); code != kurrent.ErrorUnavailable {
		t.Errorf("second append while stopped, whose discovery fails: code %d, want ErrorUnavailable (%d)", code, kurrent.ErrorUnavailable)
	}

	server.restart(t)
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
	client := newFakeClient(t, startFakeServer(t))
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
