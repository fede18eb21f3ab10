package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/embedded"
	"github.com/integrationplatform/onboarding/readmodel"
)

// Buckets of the embedded store's bbolt file, as eventstore/embedded
// defines them: records keyed by big-endian sequence number, the stream
// index, and the event id index.
var (
	recordsBucket     = []byte("events")
	streamIndexBucket = []byte("streams")
	eventIDsBucket    = []byte("ids")
)

// storedEvent reads the event at revision of stream from the embedded store
// in dir, which no server may have open.
func storedEvent(t *testing.T, dir, stream string, revision uint64) eventstore.RecordedEvent {
	t.Helper()
	store, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	events, err := store.ReadStream(context.Background(), stream, revision, 1)
	if err != nil || len(events) != 1 || events[0].Revision != revision {
		t.Fatalf("read revision %d of %s: %v, %d events", revision, stream, err, len(events))
	}
	return events[0]
}

// updateDataFile opens the bbolt file of the embedded store in dir
// directly and runs change in one read-write transaction.
func updateDataFile(t *testing.T, dir string, change func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, embedded.FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(change); err != nil {
		t.Fatal(err)
	}
}

func recordKey(e eventstore.RecordedEvent) []byte {
	return binary.BigEndian.AppendUint64(nil, e.Position.Commit)
}

// streamIndexKey is the stream index key of an event: the stream name with
// a uvarint length in front, then the revision, big-endian.
func streamIndexKey(e eventstore.RecordedEvent) []byte {
	key := binary.AppendUvarint(nil, uint64(len(e.StreamID)))
	key = append(key, e.StreamID...)
	return binary.BigEndian.AppendUint64(key, e.Revision)
}

// answerValueOffset returns the offset in data of the first letter of the
// "value" member of an AnswerSubmitted event, or -1.
func answerValueOffset(data []byte) int {
	start := bytes.Index(data, []byte(`"value":"`))
	if start < 0 {
		return -1
	}
	for i := start + len(`"value":"`); i < len(data) && data[i] != '"'; i++ {
		if c := data[i] | 0x20; c >= 'a' && c <= 'z' {
			return i
		}
	}
	return -1
}

// firstAnswerWithLetter returns the first AnswerSubmitted event of stream at
// revision from or later whose value contains a letter.
func firstAnswerWithLetter(t *testing.T, dir, stream string, from uint64) eventstore.RecordedEvent {
	t.Helper()
	for revision := from; revision < from+50; revision++ {
		e := storedEvent(t, dir, stream, revision)
		if e.Type == "AnswerSubmitted" && answerValueOffset(e.Data) >= 0 {
			return e
		}
	}
	t.Fatalf("no AnswerSubmitted event with a letter in its value in %s from revision %d", stream, from)
	return eventstore.RecordedEvent{}
}

// alterStoredData flips the case of one letter of the answer value inside
// the stored record of e, so the data stays valid JSON of the same length.
func alterStoredData(t *testing.T, dir string, e eventstore.RecordedEvent) {
	t.Helper()
	updateDataFile(t, dir, func(tx *bolt.Tx) error {
		records := tx.Bucket(recordsBucket)
		record := bytes.Clone(records.Get(recordKey(e)))
		dataAt := bytes.Index(record, e.Data)
		if record == nil || dataAt < 0 {
			return fmt.Errorf("record of event %s at sequence number %d does not contain its data", e.ID, e.Position.Commit)
		}
		record[dataAt+answerValueOffset(e.Data)] ^= 0x20
		return records.Put(recordKey(e), record)
	})
}

// deleteStoredEvent removes e's record and its stream index and event id
// entries, and leaves the stream's head as it was, so the store still
// reads the rest of the stream.
func deleteStoredEvent(t *testing.T, dir string, e eventstore.RecordedEvent) {
	t.Helper()
	updateDataFile(t, dir, func(tx *bolt.Tx) error {
		if err := tx.Bucket(recordsBucket).Delete(recordKey(e)); err != nil {
			return err
		}
		if err := tx.Bucket(streamIndexBucket).Delete(streamIndexKey(e)); err != nil {
			return err
		}
		return tx.Bucket(eventIDsBucket).Delete([]byte(e.ID))
	})
}

func TestVerifyUntouchedLog(t *testing.T) {
	dir, projects := exampleLog(t, 2)

	res := runCommand(t, "verify", "--data-dir", dir, "--log-level", "warn")

	if res.status != 0 {
		t.Fatalf("verify exit status = %d, want 0\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	events := totalEvents(projects)
	for _, want := range []string{
		fmt.Sprintf("chain:     2 streams, %d events in ", events),
		fmt.Sprintf("rebuild:   %d events, 2 projects, 0 failed to apply", events),
		"replay:    2 streams replayed one by one, 0 differences, 0 failed",
		"verify:    ok",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("verify output lacks %q:\n%s", want, res.stdout)
		}
	}
	if !strings.Contains(res.stdout, "events/s, 0 broken") {
		t.Errorf("verify output lacks the chain rate and 0 broken:\n%s", res.stdout)
	}
}

func TestVerifyNamesAlteredEvent(t *testing.T) {
	dir, projects := exampleLog(t, 2)
	stream := "project-" + projects[1].id
	altered := firstAnswerWithLetter(t, dir, stream, 20)
	alterStoredData(t, dir, altered)

	res := runCommand(t, "verify", "--data-dir", dir, "--log-level", "warn")

	if res.status != exitVerifyFailed {
		t.Fatalf("verify exit status = %d, want %d\nstdout:\n%s\nstderr:\n%s", res.status, exitVerifyFailed, res.stdout, res.stderr)
	}
	want := fmt.Sprintf("broken chain: stream %s, revision %d (event %s): hash ", stream, altered.Revision, altered.ID)
	if !strings.Contains(res.stdout, want) || !strings.Contains(res.stdout, "does not match the event's content") {
		t.Errorf("verify output does not name %s revision %d as altered:\n%s", stream, altered.Revision, res.stdout)
	}
	if strings.Count(res.stdout, "broken chain:") != 1 {
		t.Errorf("verify reports other broken chains than %s:\n%s", stream, res.stdout)
	}
	if !strings.Contains(res.stderr, "verification failed: 1 broken chain,") {
		t.Errorf("stderr = %q, want the failure summary", res.stderr)
	}
}

func TestVerifyNamesDeletedEvent(t *testing.T) {
	dir, projects := exampleLog(t, 1)
	stream := "project-" + projects[0].id
	deleteStoredEvent(t, dir, storedEvent(t, dir, stream, 30))

	res := runCommand(t, "verify", "--data-dir", dir, "--log-level", "warn")

	if res.status != exitVerifyFailed {
		t.Fatalf("verify exit status = %d, want %d\nstdout:\n%s\nstderr:\n%s", res.status, exitVerifyFailed, res.stdout, res.stderr)
	}
	want := fmt.Sprintf("broken chain: stream %s, revision 31 ", stream)
	if !strings.Contains(res.stdout, want) || !strings.Contains(res.stdout, "revision 31 follows revision 29: 1 event(s) missing") {
		t.Errorf("verify output does not name the gap at revision 30 of %s:\n%s", stream, res.stdout)
	}
	// The read models stop at the gap too: the rebuild skips every later
	// event, and the stream replay fails at the same place.
	if !strings.Contains(res.stdout, fmt.Sprintf("replay failed: project %s: ", projects[0].id)) ||
		!strings.Contains(res.stdout, "has revision 31, expected 30") {
		t.Errorf("verify output does not report the failed replay of %s:\n%s", stream, res.stdout)
	}
}

func TestVerifyWithoutStore(t *testing.T) {
	res := runCommand(t, "verify", "--data-dir", filepath.Join(t.TempDir(), "missing"))

	if res.status != exitVerifyNotRun || !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("verify of a missing store: status %d, stderr %q; want %d and a message that the store does not exist", res.status, res.stderr, exitVerifyNotRun)
	}
}

// exampleEnvelopes returns the decoded events of the first project of
// exampleLog.
func exampleEnvelopes(t *testing.T) []eventstore.Envelope {
	t.Helper()
	dir, projects := exampleLog(t, 1)
	store, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg := DefaultConfig()
	cfg.DataDir = dir
	codec, keys, err := openCodec(context.Background(), cfg, store, false, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	events, err := store.ReadStream(context.Background(), "project-"+projects[0].id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	envelopes := make([]eventstore.Envelope, len(events))
	for i, e := range events {
		if envelopes[i], err = codec.Decode(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	return envelopes
}

func TestDiffViewsNamesFieldPaths(t *testing.T) {
	envelopes := exampleEnvelopes(t)
	whole, err := readmodel.Replay(envelopes)
	if err != nil {
		t.Fatal(err)
	}
	// Without the last event, ProjectCompleted, the project is still active.
	shorter, err := readmodel.Replay(envelopes[:len(envelopes)-1])
	if err != nil {
		t.Fatal(err)
	}

	same, err := diffViews(whole, whole)
	if err != nil || len(same) != 0 {
		t.Errorf("diff of a view with itself = %+v, %v; want none", same, err)
	}
	differences, err := diffViews(whole, shorter)
	if err != nil {
		t.Fatal(err)
	}

	got := map[string]fieldDifference{}
	for _, d := range differences {
		got[d.Path] = d
	}
	version := len(envelopes)
	wantDifferences := []fieldDifference{
		{Path: "Version", Rebuilt: fmt.Sprint(version), Replayed: fmt.Sprint(version - 1)},
		{Path: "Status", Rebuilt: `"COMPLETED"`, Replayed: `"ACTIVE"`},
	}
	for _, want := range wantDifferences {
		if got[want.Path] != want {
			t.Errorf("difference at %s = %+v, want %+v", want.Path, got[want.Path], want)
		}
	}
	if d, ok := got["CompletedAt"]; !ok || d.Replayed != "null" {
		t.Errorf("difference at CompletedAt = %+v, want a time against null", d)
	}
}

func TestDiffViewsListsExtraElements(t *testing.T) {
	rebuilt := map[string]any{"Contacts": []any{"anna", "bo"}, "Name": "x"}
	replayed := map[string]any{"Contacts": []any{"anna"}, "Waiting": map[string]any{"Reason": "API key"}}

	differences, err := diffViews(rebuilt, replayed)
	if err != nil {
		t.Fatal(err)
	}

	want := []fieldDifference{
		{Path: "Contacts[1]", Rebuilt: `"bo"`},
		{Path: "Name", Rebuilt: `"x"`},
		{Path: "Waiting", Replayed: `{"Reason":"API key"}`},
	}
	if fmt.Sprint(differences) != fmt.Sprint(want) {
		t.Errorf("differences = %+v, want %+v", differences, want)
	}
}
