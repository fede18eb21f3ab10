package eventstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/integrationplatform/onboarding/domain"
)

// StreamPrefix starts the name of every project stream.
const StreamPrefix = "project-"

// StreamName returns the stream of a project.
func StreamName(projectID string) string { return StreamPrefix + projectID }

// ProjectIDOf returns the project id of a project stream name.
func ProjectIDOf(stream string) (string, bool) {
	return strings.CutPrefix(stream, StreamPrefix)
}

// Actor is who caused an event.
type Actor struct {
	UserID string `json:"userId"`
	Role   string `json:"role,omitempty"`
}

// Metadata is the envelope stored with every event.
type Metadata struct {
	Actor         Actor  `json:"actor"`
	CorrelationID string `json:"correlationId,omitempty"`
	CausationID   string `json:"causationId,omitempty"`
	SchemaVersion int    `json:"schemaVersion"`
	// OccurredAt is when the command that caused the event was handled.
	OccurredAt time.Time `json:"occurredAt"`
	// IdempotencyKey is the key of the command that caused the event, if the
	// client sent one.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// RequestHash identifies the request that used IdempotencyKey, so that a
	// key reused for a different request can be rejected.
	RequestHash string `json:"requestHash,omitempty"`
	// Hash chains the event to its predecessor in the stream; see
	// SealMetadata. It is always the last member of the stored metadata.
	Hash string `json:"hash,omitempty"`
}

// Envelope is a decoded stored event.
type Envelope struct {
	EventID    string
	ProjectID  string
	Revision   uint64
	Position   Position
	RecordedAt time.Time
	Type       string
	Event      domain.Event
	Metadata   Metadata
}

// Upcaster turns the JSON of one schema version of an event type into the
// next version.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

// upcasters maps an event type and a schema version to the function that
// turns that version into the next one.
var upcasters = map[string]map[int]Upcaster{
	domain.TypeTimeLogged: {1: timeLoggedV1ToV2},
}

// timeLoggedV1ToV2 turns fractional "hours" into whole "minutes".
func timeLoggedV1ToV2(data json.RawMessage) (json.RawMessage, error) {
	var v1 map[string]json.RawMessage
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	var hours float64
	if err := json.Unmarshal(v1["hours"], &hours); err != nil {
		return nil, fmt.Errorf("hours: %w", err)
	}
	delete(v1, "hours")
	minutes, err := json.Marshal(int(math.Round(hours * 60)))
	if err != nil {
		return nil, err
	}
	v1["minutes"] = minutes
	return json.Marshal(v1)
}

// Codec turns domain events into stored events and back. It seals the
// secrets and personal data of events that implement domain.PersonalData
// with the project's data key from a Keyring, so that the log never holds
// them in plain text.
//
// A Codec is safe for concurrent use.
type Codec struct {
	keys Keyring
	// random supplies nonces; tests replace it to pin the sealed bytes.
	random io.Reader
	// onDestroyError receives a data key that decoding failed to destroy
	// for good; see OnDestroyError.
	onDestroyError func(projectID string, err error)
}

// OnDestroyError sets the function that receives the errors of data keys
// that decoding an erasure (or meeting a lost key) tried and failed to
// destroy, for a reason that a retry does not fix. Decoding goes on, so
// that the read models show the erasure. The function should log the error
// for an operator, because the key stays in the key storage until a later
// read of the erasure destroys it. Call it before the codec is used.
func (c *Codec) OnDestroyError(f func(projectID string, err error)) { c.onDestroyError = f }

// NewCodec returns a codec that seals personal data with data keys from
// keys. With a nil keys, encoding an event that carries personal data and
// decoding a sealed value fail.
func NewCodec(keys Keyring) *Codec {
	return &Codec{keys: keys, random: rand.Reader}
}

// Encode turns a domain event of projectID into an event to append, with
// its personal data sealed and its metadata sealed into the hash chain
// after prevHash, the hash of the stream's previous event ("" for the
// first). It returns the event's hash.
func (c *Codec) Encode(ctx context.Context, id, projectID string, e domain.Event, md Metadata, prevHash string) (EventData, string, error) {
	if pd, ok := e.(domain.PersonalData); ok {
		sealed, err := c.seal(ctx, id, projectID, pd)
		if err != nil {
			return EventData{}, "", err
		}
		e = sealed
	}
	data, err := encodeUnsealed(id, e, md)
	if err != nil {
		return data, "", err
	}
	var hash string
	data.Metadata, hash = SealMetadata(prevHash, data.Type, data.Data, data.Metadata)
	return data, hash, nil
}

func encodeUnsealed(id string, e domain.Event, md Metadata) (EventData, error) {
	md.SchemaVersion = e.SchemaVersion()
	md.Hash = ""
	data, err := json.Marshal(e)
	if err != nil {
		return EventData{}, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	meta, err := json.Marshal(md)
	if err != nil {
		return EventData{}, fmt.Errorf("encode metadata of %s: %w", e.EventType(), err)
	}
	return EventData{ID: id, Type: e.EventType(), Data: data, Metadata: meta}, nil
}

// Decode turns a stored event into a domain event, upcasting older schema
// versions to the current one and opening sealed personal data. A sealed
// value whose data key was destroyed decodes as domain.ErasedValue. Decode
// returns an error wrapping ErrUnavailable when the keyring cannot be
// reached.
func (c *Codec) Decode(ctx context.Context, r RecordedEvent) (Envelope, error) {
	env := Envelope{EventID: r.ID, Revision: r.Revision, Position: r.Position, RecordedAt: r.RecordedAt, Type: r.Type}
	env.ProjectID, _ = ProjectIDOf(r.StreamID)
	if err := json.Unmarshal(r.Metadata, &env.Metadata); err != nil {
		return env, fmt.Errorf("decode metadata of %s event %s in %s: %w", r.Type, r.ID, r.StreamID, err)
	}
	e, err := domain.NewEvent(r.Type)
	if err != nil {
		return env, fmt.Errorf("decode event %s in %s: %w", r.ID, r.StreamID, err)
	}
	data, err := upcast(r.Type, env.Metadata.SchemaVersion, e.SchemaVersion(), r.Data)
	if err != nil {
		return env, fmt.Errorf("upcast %s event %s in %s: %w", r.Type, r.ID, r.StreamID, err)
	}
	if err := json.Unmarshal(data, e); err != nil {
		return env, fmt.Errorf("decode %s event %s in %s: %w", r.Type, r.ID, r.StreamID, err)
	}
	if pd, ok := e.(domain.PersonalData); ok {
		if err := c.open(ctx, r.ID, env.ProjectID, pd); err != nil {
			return env, fmt.Errorf("open %s event %s in %s: %w", r.Type, r.ID, r.StreamID, err)
		}
	}
	if _, ok := e.(*domain.PersonalDataErased); ok && c.keys != nil {
		if err := c.destroyErased(ctx, env.ProjectID); err != nil {
			return env, err
		}
	}
	env.Event = e
	env.Metadata.SchemaVersion = e.SchemaVersion()
	return env, nil
}

func upcast(eventType string, from, to int, data []byte) ([]byte, error) {
	if from == 0 {
		from = 1
	}
	if from > to {
		return nil, fmt.Errorf("schema version %d is newer than this program's version %d; upgrade the program", from, to)
	}
	for v := from; v < to; v++ {
		up, ok := upcasters[eventType][v]
		if !ok {
			return nil, fmt.Errorf("no upcaster from schema version %d", v)
		}
		var err error
		if data, err = up(data); err != nil {
			return nil, fmt.Errorf("from schema version %d: %w", v, err)
		}
	}
	return data, nil
}
