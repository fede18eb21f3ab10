// Package eventstore defines the append-only event store that every adapter
// implements, the records it returns, and the JSON codec that turns domain
// events into stored events and back.
package eventstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Store is an append-only log of events grouped in streams. All streams
// together form one totally ordered log, "$all", in which every event has a
// Position.
//
// Implementations are safe for concurrent use.
type Store interface {
	// Append writes events to the end of stream if the stream's current
	// revision matches expected. It returns only after the events are durable.
	// It returns a *ConflictError when expected does not match, and an error
	// for an empty stream name, no events, or an event without id or type.
	// When every event id in events is already stored in stream, Append
	// writes nothing and returns the result of the append that stored them.
	// When only some are, it fails. When ctx ends first, the events may or
	// may not be stored, and a retry with the same ids shows which.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)

	// ReadStream returns up to limit events of stream whose revision is at
	// least from, in revision order. It returns ErrStreamNotFound when the
	// stream has no events. A limit of zero or less means no limit.
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]RecordedEvent, error)

	// ReadAll returns up to limit events of $all that come after the position
	// after and match filter, in $all order. Start reads from the beginning.
	// A limit of zero or less means no limit.
	ReadAll(ctx context.Context, after Position, limit int, filter Filter) ([]RecordedEvent, error)

	// SubscribeAll returns a subscription that delivers every event of $all
	// after the position after that matches filter: first the stored ones,
	// then new ones as they are appended, with no gap and no duplicate
	// between the two.
	SubscribeAll(ctx context.Context, after Position, filter Filter) (Subscription, error)

	// Close releases the store. Subscriptions end with ErrClosed, and so do
	// later calls of every method. Calling Close again returns nil.
	Close() error
}

// Subscription delivers events of $all in order.
type Subscription interface {
	// Next blocks until the next event is available and returns it. It
	// returns ctx.Err() when ctx ends, and the subscription stays usable. It
	// returns ErrClosed after Close or after the store closed, and the cause
	// when the subscription dropped. Next is not safe for concurrent use.
	Next(ctx context.Context) (RecordedEvent, error)

	// Close ends the subscription. It is safe to call more than once.
	Close() error
}

// Filter selects events of $all. The zero Filter selects every event that
// is not in a system stream, whose name starts with "$".
type Filter struct {
	// StreamPrefix, when not empty, selects only streams whose name starts
	// with it.
	StreamPrefix string
}

// Match reports whether an event of stream passes the filter.
func (f Filter) Match(stream string) bool {
	if f.StreamPrefix == "" {
		return !strings.HasPrefix(stream, "$")
	}
	return strings.HasPrefix(stream, f.StreamPrefix)
}

// Position is the place of an event in $all. Commit and Prepare follow the
// EventStoreDB transaction log; stores without that distinction use the
// same number for both.
type Position struct {
	Commit  uint64
	Prepare uint64
}

// Start is the position before the first event of $all.
var Start = Position{}

// Less reports whether p comes before q in $all.
func (p Position) Less(q Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Prepare < q.Prepare
}

// String formats p as "commit/prepare".
func (p Position) String() string {
	return fmt.Sprintf("%d/%d", p.Commit, p.Prepare)
}

// EventData is an event to append.
type EventData struct {
	// ID identifies the event. A retried append with the same ids is
	// written once.
	ID string
	// Type is the stable event type name, for example "AnswerSubmitted".
	Type string
	// Data is the JSON encoding of the event.
	Data []byte
	// Metadata is the JSON encoding of the event's envelope.
	Metadata []byte
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	ID       string
	StreamID string
	Type     string
	// Revision is the event's zero-based index in its stream.
	Revision   uint64
	Position   Position
	Data       []byte
	Metadata   []byte
	RecordedAt time.Time
}

// AppendResult describes where an append put its events.
type AppendResult struct {
	// Revision is the stream revision of the last event of the append.
	Revision uint64
	// Position is the $all position of the last event of the append.
	Position Position
}

// expectationKind is the kind of check an ExpectedRevision makes.
type expectationKind uint8

const (
	expectAny expectationKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

// ExpectedRevision is the state a stream must be in for an append to go
// ahead.
type ExpectedRevision struct {
	kind     expectationKind
	revision uint64
}

// Any accepts a stream in any state.
func Any() ExpectedRevision { return ExpectedRevision{kind: expectAny} }

// NoStream accepts only a stream that has no events.
func NoStream() ExpectedRevision { return ExpectedRevision{kind: expectNoStream} }

// StreamExists accepts only a stream that has at least one event.
func StreamExists() ExpectedRevision { return ExpectedRevision{kind: expectStreamExists} }

// Exact accepts only a stream whose last event has the given revision.
func Exact(revision uint64) ExpectedRevision {
	return ExpectedRevision{kind: expectExact, revision: revision}
}

// IsAny reports whether e accepts every stream state.
func (e ExpectedRevision) IsAny() bool { return e.kind == expectAny }

// IsNoStream reports whether e expects the stream to have no events.
func (e ExpectedRevision) IsNoStream() bool { return e.kind == expectNoStream }

// IsStreamExists reports whether e expects the stream to have events.
func (e ExpectedRevision) IsStreamExists() bool { return e.kind == expectStreamExists }

// ExactRevision returns the revision e expects and whether e is exact.
func (e ExpectedRevision) ExactRevision() (uint64, bool) {
	return e.revision, e.kind == expectExact
}

// Accepts reports whether a stream whose last revision is current (exists
// false when the stream has no events) satisfies e.
func (e ExpectedRevision) Accepts(current uint64, exists bool) bool {
	switch e.kind {
	case expectNoStream:
		return !exists
	case expectStreamExists:
		return exists
	case expectExact:
		return exists && current == e.revision
	default:
		return true
	}
}

// String describes e for error messages.
func (e ExpectedRevision) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "stream exists"
	case expectExact:
		return fmt.Sprintf("revision %d", e.revision)
	default:
		return "any"
	}
}

var (
	// ErrStreamNotFound is returned when a stream has no events.
	ErrStreamNotFound = errors.New("stream not found")
	// ErrClosed is returned by a closed store or subscription.
	ErrClosed = errors.New("event store closed")
	// ErrUnavailable wraps failures to reach the store.
	ErrUnavailable = errors.New("event store unavailable")
)

// ConflictError reports that a stream was not in the expected state.
type ConflictError struct {
	Stream   string
	Expected ExpectedRevision
	// Current is the stream's last revision; Exists is false when the stream
	// has no events.
	Current uint64
	Exists  bool
}

func (e *ConflictError) Error() string {
	current := "no stream"
	if e.Exists {
		current = fmt.Sprintf("revision %d", e.Current)
	}
	return fmt.Sprintf("append to %s: expected %s, found %s", e.Stream, e.Expected, current)
}

// Cursor returns p as an opaque cursor for API clients.
func (p Position) Cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte("pos:" + p.String()))
}

// ParseCursor turns a cursor made by Position.Cursor back into a position.
func ParseCursor(cursor string) (Position, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		var p Position
		if _, err = fmt.Sscanf(string(raw), "pos:%d/%d", &p.Commit, &p.Prepare); err == nil {
			return p, nil
		}
	}
	return Position{}, fmt.Errorf("cursor %q is not an event position cursor; pass the position of an event this API returned", cursor)
}

// Pinger is implemented by stores that can report whether they are
// reachable, for readiness checks.
type Pinger interface {
	// Ping returns nil when the store responds, and an error wrapping
	// ErrUnavailable when it does not.
	Ping(ctx context.Context) error
}
