package esdb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"

	kurrent "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/keyring"
)

// DataKeyStreamPrefix starts the name of every data key stream. It lies
// outside eventstore.StreamPrefix, so the readers of the project streams,
// which filter $all by that prefix, never see data keys.
const DataKeyStreamPrefix = "datakey-"

// Event types of the data key streams.
const (
	dataKeyCreatedType   = "DataKeyCreated"
	dataKeyRewrappedType = "DataKeyRewrapped"
)

// dataKeyEvent is the JSON data of a data key event. encoding/json writes
// the wrapped key as standard base64.
type dataKeyEvent struct {
	WrappedKey []byte `json:"wrappedKey"`
}

// KeyStorage is a keyring.Storage that keeps each project's wrapped data
// key in its own stream, DataKeyStreamPrefix followed by the project id.
// Create sets the stream's $maxCount to 1, so that a scavenge removes the
// wrappings that Rewrap replaced.
//
// Destroy tombstones the stream, which is EventStoreDB's hard delete. The
// deletion is final at the API at once: reads of the stream fail from then
// on, and EventStoreDB never lets the stream be written again, so the key
// cannot be created anew. The event bytes stay in the database files until
// a scavenge removes them, so operators must schedule scavenges. A
// scavenge runs on one node and rewrites only completed chunk files, so it
// must run on every node, and bytes in the chunk still being written stay
// until a scavenge after that chunk is complete (EventStoreDB
// documentation, "Database maintenance"). Until then, reads of $all still
// return the destroyed wrapped key, which only the master key opens.
//
// KeyStorage is safe for concurrent use.
type KeyStorage struct {
	store *Store
	// prefix is DataKeyStreamPrefix, or a longer prefix that keeps the
	// streams of tests apart on a shared server.
	prefix string
}

var _ keyring.Storage = (*KeyStorage)(nil)

// KeyStorage returns a key storage that uses s's client. It works until s
// is closed.
func (s *Store) KeyStorage() *KeyStorage {
	return &KeyStorage{store: s, prefix: DataKeyStreamPrefix}
}

func (k *KeyStorage) stream(projectID string) string { return k.prefix + projectID }

// Get implements keyring.Storage by reading the last event of the
// project's stream.
func (k *KeyStorage) Get(ctx context.Context, projectID string) ([]byte, error) {
	if projectID == "" {
		return nil, errors.New("get data key: the project id is empty")
	}
	client, err := k.store.currentClient()
	if err != nil {
		return nil, err
	}
	wrapped, _, err := k.readLast(ctx, client, k.stream(projectID))
	return wrapped, err
}

// readLast returns the wrapped key in the last event of stream and the
// revision of that event. It returns eventstore.ErrKeyNotFound when the
// stream has no events and eventstore.ErrKeyDestroyed when the stream is
// tombstoned. The v4.2.0 client reports a tombstoned stream only from
// Recv, as an *esdb.Error with ErrorCodeStreamDeleted, which it builds
// from the server's "exception: stream-deleted" trailer.
func (k *KeyStorage) readLast(ctx context.Context, client *kurrent.Client, stream string) ([]byte, uint64, error) {
	read, err := client.ReadStream(ctx, stream, kurrent.ReadStreamOptions{Direction: kurrent.Backwards, From: kurrent.End{}}, 1)
	if err != nil {
		return nil, 0, k.readError(client, stream, err)
	}
	defer read.Close()
	event, err := read.Recv()
	if errors.Is(err, io.EOF) {
		return nil, 0, eventstore.ErrKeyNotFound
	}
	if err != nil {
		return nil, 0, k.readError(client, stream, err)
	}

	recorded := event.OriginalEvent()
	if recorded.EventType != dataKeyCreatedType && recorded.EventType != dataKeyRewrappedType {
		return nil, 0, fmt.Errorf("read %s: event %d has type %q, expected %s or %s", stream, recorded.EventNumber, recorded.EventType, dataKeyCreatedType, dataKeyRewrappedType)
	}
	var data dataKeyEvent
	if err := json.Unmarshal(recorded.Data, &data); err != nil {
		return nil, 0, fmt.Errorf("read %s: invalid data of event %d: %w", stream, recorded.EventNumber, err)
	}
	if len(data.WrappedKey) == 0 {
		return nil, 0, fmt.Errorf("read %s: event %d has no wrapped key", stream, recorded.EventNumber)
	}
	return data.WrappedKey, recorded.EventNumber, nil
}

func (k *KeyStorage) readError(client *kurrent.Client, stream string, err error) error {
	switch {
	case hasErrorCode(err, kurrent.ErrorCodeResourceNotFound):
		return eventstore.ErrKeyNotFound
	case hasErrorCode(err, kurrent.ErrorCodeStreamDeleted):
		return eventstore.ErrKeyDestroyed
	}
	return k.store.check(client, "read "+stream, err)
}

// hasErrorCode reports whether err's chain contains a client *esdb.Error
// with the code. The client's FromError is not used because it does not
// unwrap and its boolean is true only for a nil error.
func hasErrorCode(err error, code kurrent.ErrorCode) bool {
	var clientErr *kurrent.Error
	return errors.As(err, &clientErr) && clientErr.Code() == code
}

func dataKeyEventData(eventType string, wrapped []byte) (kurrent.EventData, error) {
	data, err := json.Marshal(dataKeyEvent{WrappedKey: wrapped})
	if err != nil {
		return kurrent.EventData{}, err
	}
	return kurrent.EventData{EventID: uuid.New(), EventType: eventType, ContentType: kurrent.ContentTypeJson, Data: data}, nil
}

// Create implements keyring.Storage by appending the key to a new stream.
// It returns keyring.ErrExists when the stream has events or is
// tombstoned.
//
// Create sets the stream's metadata before it appends the key. If it
// fails between the two writes, the stream has metadata but no events,
// which reads as a missing key, and the next Create sets the metadata
// again and appends. The other order could leave a key without
// $maxCount, and no later Create would add it.
func (k *KeyStorage) Create(ctx context.Context, projectID string, wrapped []byte) error {
	if projectID == "" {
		return errors.New("create data key: the project id is empty")
	}
	if len(wrapped) == 0 {
		return fmt.Errorf("create data key of project %s: the wrapped key is empty", projectID)
	}
	event, err := dataKeyEventData(dataKeyCreatedType, wrapped)
	if err != nil {
		return fmt.Errorf("create data key of project %s: %w", projectID, err)
	}
	client, err := k.store.currentClient()
	if err != nil {
		return err
	}
	stream := k.stream(projectID)

	// EventStoreDB treats the metadata stream of a tombstoned stream as
	// tombstoned too, so this write already fails for a destroyed key.
	var metadata kurrent.StreamMetadata
	metadata.SetMaxCount(1)
	_, err = client.SetStreamMetadata(ctx, stream, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.Any{}}, metadata)
	if hasErrorCode(err, kurrent.ErrorCodeStreamDeleted) {
		return keyring.ErrExists
	}
	if err != nil {
		return k.store.check(client, "set metadata of "+stream, err)
	}

	_, err = client.AppendToStream(ctx, stream, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.NoStream{}}, event)
	if hasErrorCode(err, kurrent.ErrorCodeWrongExpectedVersion) || hasErrorCode(err, kurrent.ErrorCodeStreamDeleted) {
		return keyring.ErrExists
	}
	if err != nil {
		return k.store.check(client, "append to "+stream, err)
	}
	return nil
}

// Destroy implements keyring.Storage by tombstoning the project's stream.
// It tombstones a stream without events too, so that Create fails after
// the erasure of a project that never had a key. Destroying a tombstoned
// stream succeeds.
func (k *KeyStorage) Destroy(ctx context.Context, projectID string) error {
	if projectID == "" {
		return errors.New("destroy data key: the project id is empty")
	}
	client, err := k.store.currentClient()
	if err != nil {
		return err
	}
	stream := k.stream(projectID)
	_, err = client.TombstoneStream(ctx, stream, kurrent.TombstoneStreamOptions{ExpectedRevision: kurrent.Any{}})
	if hasErrorCode(err, kurrent.ErrorCodeStreamDeleted) {
		return nil
	}
	if err != nil {
		return k.store.check(client, "tombstone "+stream, err)
	}
	return nil
}

// Rewrap implements keyring.Storage and returns how many keys it changed.
// It finds the data key streams by reading all of $all, because the v4
// client has no server-side filter for reads of $all. For each stream it
// reads the last event and, when rewrap changes the key, appends the new
// wrapping with that event's revision as the expected revision, so that a
// concurrent change fails the rewrap instead of being lost.
//
// Rewrap is not one transaction: the keys it rewrapped before an error
// stay rewrapped. keyring.Rotate skips the keys that the new master key
// already wraps, so an interrupted rotation can be run again. Keys created
// after the read of $all are not rewrapped, so run the rotation again
// once every process uses the new master key.
func (k *KeyStorage) Rewrap(ctx context.Context, rewrap func(projectID string, wrapped []byte) ([]byte, error)) (int, error) {
	client, err := k.store.currentClient()
	if err != nil {
		return 0, err
	}
	streams, err := k.dataKeyStreams(ctx, client)
	if err != nil {
		return 0, err
	}

	changed := 0
	for _, stream := range streams {
		projectID := strings.TrimPrefix(stream, k.prefix)
		wrapped, revision, err := k.readLast(ctx, client, stream)
		if errors.Is(err, eventstore.ErrKeyDestroyed) || errors.Is(err, eventstore.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return changed, err
		}

		next, err := rewrap(projectID, wrapped)
		if err != nil {
			return changed, err
		}
		if len(next) == 0 {
			return changed, fmt.Errorf("rewrap data key of project %s: the new wrapped key is empty", projectID)
		}
		if bytes.Equal(next, wrapped) {
			continue
		}

		event, err := dataKeyEventData(dataKeyRewrappedType, next)
		if err != nil {
			return changed, fmt.Errorf("rewrap data key of project %s: %w", projectID, err)
		}
		_, err = client.AppendToStream(ctx, stream, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.Revision(revision)}, event)
		if hasErrorCode(err, kurrent.ErrorCodeStreamDeleted) {
			// The key was destroyed after the read, and Rewrap skips
			// destroyed keys.
			continue
		}
		if hasErrorCode(err, kurrent.ErrorCodeWrongExpectedVersion) {
			return changed, fmt.Errorf("rewrap data key of project %s: the key changed after revision %d was read; run the rotation again", projectID, revision)
		}
		if err != nil {
			return changed, k.store.check(client, "append to "+stream, err)
		}
		changed++
	}
	return changed, nil
}

// dataKeyStreams returns the names of the streams in $all that start with
// k.prefix, in the order of their first event. The names of tombstoned
// streams are included, because their events stay in $all until a
// scavenge.
func (k *KeyStorage) dataKeyStreams(ctx context.Context, client *kurrent.Client) ([]string, error) {
	var names []string
	seen := make(map[string]bool)
	after := eventstore.Start // the position of the last event handled, where the next batch starts
	for {
		batch, err := k.store.readAllBatch(ctx, client, after)
		if err != nil {
			return nil, err
		}
		from := after
		for _, e := range batch {
			// A read from a position includes the event at that position,
			// so every batch but the first starts with a handled event.
			if from != eventstore.Start && !from.Less(e.Position) {
				continue
			}
			after = e.Position
			if strings.HasPrefix(e.StreamID, k.prefix) && !seen[e.StreamID] {
				seen[e.StreamID] = true
				names = append(names, e.StreamID)
			}
		}
		if len(batch) < readBatch {
			return names, nil
		}
	}
}

// Close implements keyring.Storage and does nothing, because the Store
// owns the client.
func (k *KeyStorage) Close() error { return nil }
