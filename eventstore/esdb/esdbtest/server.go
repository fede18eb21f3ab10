// Package esdbtest is a test-only, in-process server that speaks the
// EventStoreDB gRPC protocol on a loopback port, for testing the adapter
// and the API without a real EventStoreDB.
package esdbtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
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
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
)

// This file holds a test-only, in-process server that speaks the
// EventStoreDB gRPC protocol as defined by the .proto files of
// EventStore-Client-Go v4.2.0. The tests that run that client against it
// are in eventstore/esdb/fakeserver_test.go.
//
// Supported calls: Streams.Read (stream and $all reads in both directions,
// $all filters, catch-up subscriptions to a stream and to $all),
// Streams.Append, Streams.Tombstone, and
// ServerFeatures.GetSupportedMethods, which returns Unimplemented. Delete
// (soft delete), BatchAppend, persistent subscriptions, projections,
// gossip and authentication are not implemented, and the server stores no
// link events, so resolve_links has no effect. Stream metadata is stored
// as the events of the "$$<stream>" stream but not applied, so $maxCount,
// $maxAge and $tb do not hide events from reads.

const (
	// FirstPosition and fakePositionStep space the $all positions
	// (commit = prepare = FirstPosition + index*fakePositionStep), so
	// that a test cannot mistake a position for an index or a count.
	FirstPosition    uint64 = 4_000_000
	fakePositionStep uint64 = 137

	// fakeDefaultSearchWindow is the filter window when a request sets no
	// max. NOTE: EventStoreDB uses its read batch size there; 32 is the
	// default max search window of the v4.2.0 client.
	fakeDefaultSearchWindow = 32

	// fakeGracefulStopTimeout bounds how long stop waits for calls to end
	// before it closes the connections.
	fakeGracefulStopTimeout = 2 * time.Second
)

// Server serves an in-memory event log on a loopback port. The log
// survives stop and restart, and restart listens on the same port.
type Server struct {
	log     *fakeLog
	address string // host:port on 127.0.0.1

	// discoveryCount counts ServerFeatures.GetSupportedMethods calls. The
	// client makes one each time it discovers the node, on its first call
	// and after a call fails with Unavailable.
	discoveryCount atomic.Int64

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

// Start starts a server on 127.0.0.1 with a free port and
// registers its close as a cleanup of t.
func Start(t testing.TB) *Server {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake EventStoreDB server: listen on 127.0.0.1:0 failed: %v", err)
	}
	s := &Server{log: newFakeLog(), address: listener.Addr().String()}
	s.serve(listener)
	t.Cleanup(s.Close)
	return s
}

// ConnectionString returns the client connection string of the server,
// without TLS ("tls=false" sets the client's DisableTLS).
func (s *Server) ConnectionString() string {
	return "esdb://" + s.address + "?tls=false"
}

func (s *Server) serve(listener net.Listener) {
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
	serverfeatures.RegisterServerFeaturesServer(grpcServer, &fakeFeaturesService{discoveryCount: &s.discoveryCount})

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

// Stop closes the listener and every connection, and keeps the log.
// Subscriptions and appends still running end with Unavailable. stop does
// nothing when the server is already stopped.
func (s *Server) Stop() {
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

// Restart listens again on the port of the first start and serves the same
// log. It fails the test when the server is running or closed, or when the
// port stays taken for 5 s.
func (s *Server) Restart(t testing.TB) {
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

// Close stops the server for good.
func (s *Server) Close() {
	s.Stop()
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
	// tombstoned contains the names of the hard-deleted streams. Their
	// events stay in all and in streams, as EventStoreDB keeps them in
	// $all until a scavenge.
	tombstoned map[string]bool
	// appended is closed and replaced after each append or tombstone that
	// writes, to wake the subscriptions.
	appended chan struct{}
}

// errFakeStreamDeleted is returned by fakeLog methods for a tombstoned
// stream.
var errFakeStreamDeleted = errors.New("stream is tombstoned")

// newFakeLog returns a log whose $all starts with system events (stream
// names and event types that start with "$"), as a new EventStoreDB
// database does, so that readers of $all have to filter them out.
func newFakeLog() *fakeLog {
	l := &fakeLog{streams: make(map[string][]*fakeEvent), tombstoned: make(map[string]bool), appended: make(chan struct{})}
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
	l.streams[e.stream] = append(l.streams[e.stream], e)
	l.addToAllLocked(e)
}

// addToAllLocked gives e the next $all position and adds it to $all only.
// The caller holds l.mu or owns l.
func (l *fakeLog) addToAllLocked(e *fakeEvent) {
	e.position = FirstPosition + uint64(len(l.all))*fakePositionStep
	l.all = append(l.all, e)
}

// notifyLocked wakes the subscriptions after a write. The caller holds
// l.mu.
func (l *fakeLog) notifyLocked() {
	close(l.appended)
	l.appended = make(chan struct{})
}

// deletedLocked reports whether the stream is tombstoned. The metadata
// stream "$$name" of a tombstoned stream counts as tombstoned too, as in
// IndexReader.GetStreamLastEventNumberCached of the EventStoreDB server.
// The caller holds l.mu.
func (l *fakeLog) deletedLocked(name string) bool {
	if l.tombstoned[name] {
		return true
	}
	original, isMetadata := strings.CutPrefix(name, "$$")
	return isMetadata && l.tombstoned[original]
}

// deleted is deletedLocked for callers that do not hold l.mu.
func (l *fakeLog) deleted(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deletedLocked(name)
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
// An append to a tombstoned stream returns errFakeStreamDeleted whatever
// its expected revision, because EventStoreDB checks deletion first.
func (l *fakeLog) append(name string, options *streams.AppendReq_Options, proposed []*fakeEvent) (*streams.AppendResp, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deletedLocked(name) {
		return nil, errFakeStreamDeleted
	}
	existing := l.streams[name]

	switch check, last := l.checkRetryLocked(name, options, proposed); check {
	case fakeRetry:
		return fakeAppendSuccess(last), nil
	case fakePartialRetry:
		return fakeWrongExpectedVersion(existing, options), nil
	}
	if !fakeExpectationMet(existing, options) {
		return fakeWrongExpectedVersion(existing, options), nil
	}
	if len(proposed) == 0 {
		return fakeEmptyAppendSuccess(existing), nil
	}

	created := time.Now().UnixNano() / 100
	for _, e := range proposed {
		e.stream = name
		e.created = created
		l.appendLocked(e)
	}
	l.notifyLocked()
	return fakeAppendSuccess(proposed[len(proposed)-1]), nil
}

// fakeTombstoneConflict is the error of a tombstone whose expected revision
// does not match the stream. Both fields use EventStoreDB's numbers:
// -1 no stream, -2 any, -4 stream exists, otherwise a revision.
type fakeTombstoneConflict struct {
	expected, actual int64
}

func (c *fakeTombstoneConflict) Error() string {
	return fmt.Sprintf("wrong expected version: expected %d, actual %d", c.expected, c.actual)
}

// tombstone hard-deletes the stream after checking the expected revision.
// It adds a "$streamDeleted" event to $all, with the revision 2^63-1
// (EventNumber.DeletedStream in the server). From then on the stream and
// its metadata stream reject reads and appends with stream-deleted. A
// stream without events can be tombstoned too. Tombstoning a tombstoned
// stream returns errFakeStreamDeleted.
func (l *fakeLog) tombstone(name string, options *streams.TombstoneReq_Options) (*fakeEvent, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deletedLocked(name) {
		return nil, errFakeStreamDeleted
	}
	existing := l.streams[name]
	actual := int64(-1)
	if len(existing) > 0 {
		actual = int64(existing[len(existing)-1].revision)
	}

	var expected int64
	met := false
	switch revision := options.GetExpectedStreamRevision().(type) {
	case *streams.TombstoneReq_Options_Any:
		expected, met = -2, true
	case *streams.TombstoneReq_Options_NoStream:
		expected, met = -1, len(existing) == 0
	case *streams.TombstoneReq_Options_StreamExists:
		expected, met = -4, len(existing) > 0
	case *streams.TombstoneReq_Options_Revision:
		expected, met = int64(revision.Revision), len(existing) > 0 && actual == int64(revision.Revision)
	}
	if !met {
		return nil, &fakeTombstoneConflict{expected: expected, actual: actual}
	}

	e := &fakeEvent{
		id:          uuid.New(),
		stream:      name,
		revision:    math.MaxInt64,
		eventType:   "$streamDeleted",
		contentType: "application/octet-stream",
		created:     time.Now().UnixNano() / 100,
	}
	l.addToAllLocked(e)
	l.tombstoned[name] = true
	l.notifyLocked()
	return e, nil
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
	discoveryCount *atomic.Int64
}

func (f *fakeFeaturesService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	f.discoveryCount.Add(1)
	return nil, status.Error(codes.Unimplemented, "the fake EventStoreDB server has no server features API")
}

// fakeStreamsService implements Streams.Read, Streams.Append and
// Streams.Tombstone on a fakeLog. Delete and BatchAppend return
// Unimplemented.
type fakeStreamsService struct {
	streams.UnimplementedStreamsServer
	log      *fakeLog
	stopping <-chan struct{}
}

func fakeUnavailable() error {
	return status.Error(codes.Unavailable, "the fake EventStoreDB server is stopping")
}

// fakeStreamDeleted sets the trailers and returns the status with which
// EventStoreDB rejects a read of or an append to a tombstoned stream
// (RpcExceptions.StreamDeleted in the server). The v4.2.0 client
// recognises the "exception: stream-deleted" trailer and returns an
// *esdb.Error with ErrorCodeStreamDeleted. It indexes the "stream-name"
// trailer without checking it, so that trailer must be set too.
func fakeStreamDeleted(ctx context.Context, name string) error {
	_ = grpc.SetTrailer(ctx, metadata.Pairs("exception", "stream-deleted", "stream-name", name))
	return status.Errorf(codes.FailedPrecondition, "Event stream '%s' is deleted.", name)
}

// fakeTombstoneWrongExpectedVersion sets the trailers and returns the
// status with which EventStoreDB rejects a tombstone whose expected
// revision does not match (RpcExceptions.WrongExpectedVersion in the
// server). The v4.2.0 client does not recognise this exception on a
// tombstone and returns an *esdb.Error with ErrorCodeUnknown.
func fakeTombstoneWrongExpectedVersion(ctx context.Context, name string, conflict *fakeTombstoneConflict) error {
	_ = grpc.SetTrailer(ctx, metadata.Pairs(
		"exception", "wrong-expected-version",
		"stream-name", name,
		"expected-version", strconv.FormatInt(conflict.expected, 10),
		"actual-version", strconv.FormatInt(conflict.actual, 10),
	))
	return status.Errorf(codes.FailedPrecondition, "tombstone of stream %s failed: %v", name, conflict)
}

// Tombstone hard-deletes a stream. The response always carries the
// position of the tombstone, because the v4.2.0 client dereferences it
// without checking for no_position.
func (svc *fakeStreamsService) Tombstone(ctx context.Context, request *streams.TombstoneReq) (*streams.TombstoneResp, error) {
	if err := svc.checkStopping(); err != nil {
		return nil, err
	}
	options := request.GetOptions()
	name := string(options.GetStreamIdentifier().GetStreamName())
	if name == "" || name == "$all" {
		return nil, status.Errorf(codes.InvalidArgument, "invalid tombstone: stream name %q", name)
	}
	if options.GetExpectedStreamRevision() == nil {
		return nil, status.Error(codes.InvalidArgument, "invalid tombstone: the options set no expected revision")
	}

	tombstone, err := svc.log.tombstone(name, options)
	var conflict *fakeTombstoneConflict
	switch {
	case errors.Is(err, errFakeStreamDeleted):
		return nil, fakeStreamDeleted(ctx, name)
	case errors.As(err, &conflict):
		return nil, fakeTombstoneWrongExpectedVersion(ctx, name, conflict)
	case err != nil:
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &streams.TombstoneResp{PositionOption: &streams.TombstoneResp_Position_{Position: &streams.TombstoneResp_Position{
		CommitPosition:  tombstone.position,
		PreparePosition: tombstone.position,
	}}}, nil
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
	response, err := svc.log.append(name, options, proposed)
	if errors.Is(err, errFakeStreamDeleted) {
		return fakeStreamDeleted(call.Context(), name)
	}
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return call.SendAndClose(response)
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
// or one stream-not-found message when the stream has no events. A read of
// a tombstoned stream fails with stream-deleted.
func (svc *fakeStreamsService) readStream(reader fakeReader, options *streams.ReadReq_Options_StreamOptions, count uint64, backwards bool) error {
	name := string(options.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return status.Error(codes.InvalidArgument, "invalid read: empty stream name")
	}
	if svc.log.deleted(name) {
		return fakeStreamDeleted(reader.call.Context(), name)
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
// subscription waits for its first event. A subscription to a tombstoned
// stream fails with stream-deleted. NOTE: a subscription that is open when
// its stream is tombstoned keeps waiting here, which may differ from
// EventStoreDB.
func (svc *fakeStreamsService) subscribeStream(reader fakeReader, options *streams.ReadReq_Options_StreamOptions) error {
	name := string(options.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return status.Error(codes.InvalidArgument, "invalid subscription: empty stream name")
	}
	if svc.log.deleted(name) {
		return fakeStreamDeleted(reader.call.Context(), name)
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

// Discoveries returns how many times a client discovered the server: the
// client calls ServerFeatures.GetSupportedMethods on its first call and
// after a call fails with Unavailable.
func (s *Server) Discoveries() int64 { return s.discoveryCount.Load() }

// Addr returns the server's host:port on 127.0.0.1.
func (s *Server) Addr() string { return s.address }
