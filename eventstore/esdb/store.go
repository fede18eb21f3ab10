// Package esdb is the EventStoreDB and KurrentDB adapter of the event
// store, on github.com/EventStore/EventStore-Client-Go/v4. It is the only
// package of this module that imports that client.
package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kurrent "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/integrationplatform/onboarding/eventstore"
)

// readBatch is the number of events read per call while scanning $all.
const readBatch = 1024

// Options configures Open.
type Options struct {
	// ConnectionString is an esdb:// or esdb+discover:// connection string,
	// with TLS settings as the client takes them (tls=false,
	// tlsVerifyCert=false, tlsCAFile=...).
	ConnectionString string
	// Log receives the adapter's and the client's log lines.
	Log zerolog.Logger
}

// Store is an eventstore.Store on an EventStoreDB or KurrentDB node or
// cluster. It is safe for concurrent use.
type Store struct {
	config *kurrent.Configuration
	log    zerolog.Logger

	// mu guards client and closed.
	mu     sync.Mutex
	client *kurrent.Client
	closed bool
	// done is closed by Close to end subscriptions that wait to reconnect.
	done chan struct{}
}

var _ eventstore.Store = (*Store)(nil)

// Open parses the connection string and creates the client. It does not
// connect: the first call does, so the server may start later.
func Open(opts Options) (*Store, error) {
	config, err := kurrent.ParseConnectionString(opts.ConnectionString)
	if err != nil {
		return nil, fmt.Errorf("invalid EventStoreDB connection string: %w; use for example esdb://127.0.0.1:2113?tls=false", err)
	}
	s := &Store{config: config, log: opts.Log, done: make(chan struct{})}
	config.Logger = clientLogger(opts.Log)
	if _, err := s.currentClient(); err != nil {
		return nil, err
	}
	return s, nil
}

// currentClient returns the client, creating one when there is none.
func (s *Store) currentClient() (*kurrent.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	if s.client == nil {
		client, err := kurrent.NewClient(s.config)
		if err != nil {
			return nil, fmt.Errorf("create EventStoreDB client: %w", err)
		}
		s.client = client
	}
	return s.client, nil
}

// check turns a client error into a store error. The v4 client closes
// itself for good after a failed node discovery, so when an error reports
// that the connection is closed, the client is replaced and the next call connects
// anew.
func (s *Store) check(client *kurrent.Client, op string, err error) error {
	if err == nil {
		return nil
	}
	var kerr *kurrent.Error
	if errors.As(err, &kerr) && kerr.Code() == kurrent.ErrorCodeConnectionClosed {
		s.mu.Lock()
		if s.client == client && !s.closed {
			s.client = nil
			s.log.Warn().Err(err).Msg("EventStoreDB client closed itself; a new client connects on the next call")
			go func() { _ = client.Close() }()
		}
		s.mu.Unlock()
	}
	if isUnavailable(err) {
		return fmt.Errorf("%s: %w: %v", op, eventstore.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isUnavailable reports whether err means the server cannot be reached.
func isUnavailable(err error) bool {
	var kerr *kurrent.Error
	if errors.As(err, &kerr) {
		switch kerr.Code() {
		case kurrent.ErrorCodeConnectionClosed, kurrent.ErrorCodeDeadlineExceeded, kurrent.ErrorUnavailable, kurrent.ErrorCodeNotLeader:
			return true
		}
		if inner := kerr.Err(); inner != nil && inner != err {
			return isUnavailable(inner)
		}
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

func expectedRevision(e eventstore.ExpectedRevision) kurrent.ExpectedRevision {
	if rev, ok := e.ExactRevision(); ok {
		return kurrent.Revision(rev)
	}
	switch {
	case e.IsNoStream():
		return kurrent.NoStream{}
	case e.IsStreamExists():
		return kurrent.StreamExists{}
	default:
		return kurrent.Any{}
	}
}

// Append implements eventstore.Store. Event ids must be UUIDs, because
// EventStoreDB stores them as such and uses them to detect retries.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if stream == "" || len(events) == 0 {
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: a stream name and at least one event are required", stream)
	}
	data := make([]kurrent.EventData, len(events))
	for i, e := range events {
		id, err := uuid.Parse(e.ID)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append to %s: event id %q is not a UUID; EventStoreDB needs UUID event ids", stream, e.ID)
		}
		if e.Type == "" {
			return eventstore.AppendResult{}, fmt.Errorf("append to %s: event %s has an empty type", stream, e.ID)
		}
		data[i] = kurrent.EventData{EventID: id, EventType: e.Type, ContentType: kurrent.ContentTypeJson, Data: e.Data, Metadata: e.Metadata}
	}
	client, err := s.currentClient()
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	// EventStoreDB writes a retry again when its exact expected revision is
	// the stream's current one, which is the case when the retried events
	// are the last ones of the stream, so those are compared first.
	if _, exact := expected.ExactRevision(); exact {
		if stored, ok, err := s.storedTail(ctx, client, stream, events); err != nil {
			return eventstore.AppendResult{}, err
		} else if ok {
			return stored, nil
		}
	}
	res, err := client.AppendToStream(ctx, stream, kurrent.AppendToStreamOptions{ExpectedRevision: expectedRevision(expected)}, data...)
	var kerr *kurrent.Error
	if errors.As(err, &kerr) && kerr.Code() == kurrent.ErrorCodeWrongExpectedVersion {
		// EventStoreDB recognises a retry only at the revisions its expected
		// revision points to. A retry sent with another expectation is
		// found here by its event ids.
		if stored, ok, findErr := s.storedAppend(ctx, client, stream, events); findErr == nil && ok {
			return stored, nil
		}
		return eventstore.AppendResult{}, s.conflict(ctx, client, stream, expected)
	}
	if err != nil {
		return eventstore.AppendResult{}, s.check(client, "append to "+stream, err)
	}
	return eventstore.AppendResult{
		Revision: res.NextExpectedVersion,
		Position: eventstore.Position{Commit: res.CommitPosition, Prepare: res.PreparePosition},
	}, nil
}

// storedTail reports whether the last events of stream are events, by id,
// and returns the result of the append that stored them.
func (s *Store) storedTail(ctx context.Context, client *kurrent.Client, stream string, events []eventstore.EventData) (eventstore.AppendResult, bool, error) {
	read, err := client.ReadStream(ctx, stream, kurrent.ReadStreamOptions{Direction: kurrent.Backwards, From: kurrent.End{}}, uint64(len(events)))
	if err != nil {
		var kerr *kurrent.Error
		if errors.As(err, &kerr) && kerr.Code() == kurrent.ErrorCodeResourceNotFound {
			return eventstore.AppendResult{}, false, nil
		}
		return eventstore.AppendResult{}, false, s.check(client, "read "+stream, err)
	}
	defer read.Close()
	var tail []eventstore.RecordedEvent
	for {
		e, err := read.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			err = s.readError(client, stream, err)
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				return eventstore.AppendResult{}, false, nil
			}
			return eventstore.AppendResult{}, false, err
		}
		tail = append(tail, recorded(e))
	}
	if len(tail) != len(events) {
		return eventstore.AppendResult{}, false, nil
	}
	for i, e := range events {
		if tail[len(tail)-1-i].ID != e.ID {
			return eventstore.AppendResult{}, false, nil
		}
	}
	return eventstore.AppendResult{Revision: tail[0].Revision, Position: tail[0].Position}, true, nil
}

// storedAppend reports whether events are stored in stream, consecutively
// and in order, and returns the result of the append that stored them.
func (s *Store) storedAppend(ctx context.Context, client *kurrent.Client, stream string, events []eventstore.EventData) (eventstore.AppendResult, bool, error) {
	stored, err := s.ReadStream(ctx, stream, 0, 0)
	if err != nil {
		return eventstore.AppendResult{}, false, err
	}
	for i := range stored {
		if stored[i].ID != events[0].ID {
			continue
		}
		if i+len(events) > len(stored) {
			return eventstore.AppendResult{}, false, nil
		}
		for j, e := range events {
			if stored[i+j].ID != e.ID {
				return eventstore.AppendResult{}, false, nil
			}
		}
		last := stored[i+len(events)-1]
		return eventstore.AppendResult{Revision: last.Revision, Position: last.Position}, true, nil
	}
	return eventstore.AppendResult{}, false, nil
}

// conflict builds the conflict error with the stream's current revision.
// The client reports that revision only inside its message text, so it is
// read from the stream's last event instead.
func (s *Store) conflict(ctx context.Context, client *kurrent.Client, stream string, expected eventstore.ExpectedRevision) error {
	conflict := &eventstore.ConflictError{Stream: stream, Expected: expected}
	read, err := client.ReadStream(ctx, stream, kurrent.ReadStreamOptions{Direction: kurrent.Backwards, From: kurrent.End{}}, 1)
	if err != nil {
		return conflict
	}
	defer read.Close()
	if last, err := read.Recv(); err == nil && last.OriginalEvent() != nil {
		conflict.Current, conflict.Exists = last.OriginalEvent().EventNumber, true
	}
	return conflict
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	client, err := s.currentClient()
	if err != nil {
		return nil, err
	}
	count := uint64(math.MaxUint64)
	if limit > 0 {
		count = uint64(limit)
	}
	read, err := client.ReadStream(ctx, stream, kurrent.ReadStreamOptions{From: kurrent.Revision(from)}, count)
	if err != nil {
		return nil, s.readError(client, stream, err)
	}
	defer read.Close()
	var events []eventstore.RecordedEvent
	for {
		e, err := read.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, s.readError(client, stream, err)
		}
		events = append(events, recorded(e))
	}
	if len(events) == 0 && from == 0 {
		return nil, eventstore.ErrStreamNotFound
	}
	return events, nil
}

func (s *Store) readError(client *kurrent.Client, stream string, err error) error {
	var kerr *kurrent.Error
	if errors.As(err, &kerr) && kerr.Code() == kurrent.ErrorCodeResourceNotFound {
		return eventstore.ErrStreamNotFound
	}
	return s.check(client, "read "+stream, err)
}

// ReadAll implements eventstore.Store. The v4 client has no server-side
// filter for reads of $all, so the filter is applied here.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int, filter eventstore.Filter) ([]eventstore.RecordedEvent, error) {
	client, err := s.currentClient()
	if err != nil {
		return nil, err
	}
	var events []eventstore.RecordedEvent
	from := after
	for {
		batch, err := s.readAllBatch(ctx, client, from)
		if err != nil {
			return nil, err
		}
		for _, e := range batch {
			if after != eventstore.Start && !after.Less(e.Position) {
				continue
			}
			from = e.Position
			if !filter.Match(e.StreamID) {
				continue
			}
			events = append(events, e)
			if limit > 0 && len(events) == limit {
				return events, nil
			}
		}
		if len(batch) < readBatch {
			return events, nil
		}
		after = from
	}
}

func (s *Store) readAllBatch(ctx context.Context, client *kurrent.Client, from eventstore.Position) ([]eventstore.RecordedEvent, error) {
	opts := kurrent.ReadAllOptions{From: allPosition(from)}
	read, err := client.ReadAll(ctx, opts, readBatch)
	if err != nil {
		return nil, s.check(client, "read $all", err)
	}
	defer read.Close()
	var batch []eventstore.RecordedEvent
	for {
		e, err := read.Recv()
		if errors.Is(err, io.EOF) {
			return batch, nil
		}
		if err != nil {
			return nil, s.check(client, "read $all", err)
		}
		batch = append(batch, recorded(e))
	}
}

func allPosition(p eventstore.Position) kurrent.AllPosition {
	if p == eventstore.Start {
		return kurrent.Start{}
	}
	return kurrent.Position{Commit: p.Commit, Prepare: p.Prepare}
}

func recorded(e *kurrent.ResolvedEvent) eventstore.RecordedEvent {
	r := e.OriginalEvent()
	return eventstore.RecordedEvent{
		ID:         r.EventID.String(),
		StreamID:   r.StreamID,
		Type:       r.EventType,
		Revision:   r.EventNumber,
		Position:   eventstore.Position{Commit: r.Position.Commit, Prepare: r.Position.Prepare},
		Data:       r.Data,
		Metadata:   r.UserMetadata,
		RecordedAt: r.CreatedDate.UTC(),
	}
}

// Close implements eventstore.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	if s.client != nil {
		return s.client.Close()
	}
	return nil
}

// clientLogger sends the client's log lines to log. The v4 client passes
// its arguments as one slice, so a lone slice argument is spread.
func clientLogger(log zerolog.Logger) kurrent.LoggingFunc {
	return func(level kurrent.LogLevel, format string, args ...any) {
		if len(args) == 1 {
			if inner, ok := args[0].([]any); ok {
				args = inner
			}
		}
		event := log.Debug()
		switch level {
		case kurrent.LogInfo:
			event = log.Info()
		case kurrent.LogWarn:
			event = log.Warn()
		case kurrent.LogError:
			event = log.Error()
		}
		event.Str("component", "eventstoredb-client").Msgf(format, args...)
	}
}

// Ping implements eventstore.Pinger by reading the last event of $all.
func (s *Store) Ping(ctx context.Context) error {
	client, err := s.currentClient()
	if err != nil {
		return err
	}
	read, err := client.ReadAll(ctx, kurrent.ReadAllOptions{Direction: kurrent.Backwards, From: kurrent.End{}}, 1)
	if err != nil {
		return s.check(client, "ping", err)
	}
	defer read.Close()
	if _, err := read.Recv(); err != nil && !errors.Is(err, io.EOF) {
		return s.check(client, "ping", err)
	}
	return nil
}
