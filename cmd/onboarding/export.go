package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/readmodel"
)

const exportUsage = `Usage: onboarding export [flags]

Writes the events of one project (--project) or of every project as JSON
Lines, one event a line, to standard output or to the file --out:

  {"stream":"project-<id>","revision":0,"position":{"commit":1,"prepare":1},
   "eventId":"…","type":"ProjectStarted","recordedAt":"2026-12-04T10:00:00Z",
   "data":{…},"metadata":{…,"hash":"…"}}

data and metadata are the stored bytes, unchanged, so that "onboarding
verify --file" can recompute every hash offline. An event whose stored data
or metadata is not compact UTF-8 JSON carries those bytes in base64 as
dataBase64 or metadataBase64 instead. Events come in $all order, or in
revision order with --project.

The export contains answers to SECRET questions and contact details in
plain text, as the log stores them. --out is written with mode 0600 and
replaces the file only once the export is complete.

The embedded store can be open in one process only, so stop the server
first.
`

func export(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newStoreCommand("export", exportUsage, getenv, stderr)
	projectID := cmd.fs.String("project", "", "id of the project to export, as the API returns it; empty exports every project")
	outPath := cmd.fs.String("out", "", "path of the JSON Lines file to write; empty writes to standard output")
	if err := cmd.parse(args); err != nil {
		return err
	}
	log, status := newCommandLogger(cmd.cfg, stderr)
	if *outPath == "" && isTerminal(stdout) {
		// The events go to the same terminal, so no status line.
		status = nil
	}
	store, err := openExistingStore(cmd.cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()

	out := stdout
	var file *replacementFile
	if *outPath != "" {
		if file, err = createReplacement(*outPath); err != nil {
			return err
		}
		defer file.Abort()
		out = file
	}

	exported := &exportWriter{verifier: eventstore.NewChainVerifier()}
	report := startProgress("export", exported.events.Load, status, log, progressLogInterval)
	err = exported.write(ctx, store, *projectID, out)
	report.Stop()
	if err != nil {
		return err
	}
	if file != nil {
		if err := file.Commit(); err != nil {
			return err
		}
	}

	for _, failure := range exported.verifier.Failures {
		log.Warn().Str("stream", failure.Stream).Uint64("revision", failure.Revision).Str("reason", failure.Reason).
			Msg("exported a stream whose hash chain is broken; verify --file will report it")
	}
	log.Info().Int64("events", exported.events.Load()).Int("streams", exported.verifier.Streams()).
		Str("out", outName(*outPath)).Msg("export written")
	return nil
}

func outName(path string) string {
	if path == "" {
		return "standard output"
	}
	return path
}

// exportWriter writes events as JSON Lines and checks their chains on the
// way, so that the command can warn about an export that will not verify.
type exportWriter struct {
	verifier *eventstore.ChainVerifier
	events   atomic.Int64
}

// write writes the events of project projectID, or of every project when
// projectID is empty, to w.
func (x *exportWriter) write(ctx context.Context, store eventstore.Store, projectID string, w io.Writer) error {
	buffered := bufio.NewWriterSize(w, 1<<16)
	encoder := newExportEncoder(buffered)

	write := func(events []eventstore.RecordedEvent) error {
		for _, e := range events {
			x.verifier.Add(e)
			if err := encoder.Encode(newExportedEvent(e)); err != nil {
				return fmt.Errorf("write event %s of %s: %w", e.ID, e.StreamID, err)
			}
		}
		x.events.Add(int64(len(events)))
		return nil
	}
	var err error
	if projectID == "" {
		err = readAllProjects(ctx, store, write)
	} else {
		err = readProject(ctx, store, projectID, write)
	}
	if err != nil {
		return err
	}
	if err := buffered.Flush(); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	return nil
}

// readAllProjects passes the events of every project stream to handle, in
// $all order, one batch at a time.
func readAllProjects(ctx context.Context, store eventstore.Store, handle func([]eventstore.RecordedEvent) error) error {
	filter := eventstore.Filter{StreamPrefix: eventstore.StreamPrefix}
	after := eventstore.Start
	for {
		events, err := store.ReadAll(ctx, after, readmodel.CatchUpBatch, filter)
		if err != nil {
			return fmt.Errorf("read $all after position %s: %w", after, err)
		}
		if len(events) == 0 {
			return nil
		}
		if err := handle(events); err != nil {
			return err
		}
		after = events[len(events)-1].Position
	}
}

// readProject passes the events of one project's stream to handle, in
// revision order, one batch at a time.
func readProject(ctx context.Context, store eventstore.Store, projectID string, handle func([]eventstore.RecordedEvent) error) error {
	stream := eventstore.StreamName(projectID)
	var from uint64
	for {
		events, err := store.ReadStream(ctx, stream, from, readmodel.CatchUpBatch)
		if errors.Is(err, eventstore.ErrStreamNotFound) && from == 0 {
			return fmt.Errorf("project %q not found: the store has no stream %s; pass a project id as the API returns it", projectID, stream)
		}
		if err != nil {
			return fmt.Errorf("read stream %s from revision %d: %w", stream, from, err)
		}
		if len(events) == 0 {
			return nil
		}
		if err := handle(events); err != nil {
			return err
		}
		from = events[len(events)-1].Revision + 1
	}
}

// newExportEncoder returns an encoder of exported events, one a line.
func newExportEncoder(w io.Writer) *json.Encoder {
	encoder := json.NewEncoder(w)
	// HTML escaping would change the stored bytes inside data and metadata.
	encoder.SetEscapeHTML(false)
	return encoder
}

// exportedEvent is one line of an export.
type exportedEvent struct {
	Stream string `json:"stream"`
	// Revision is a pointer so that reading an export can tell a missing
	// revision from revision 0.
	Revision   *uint64          `json:"revision"`
	Position   exportedPosition `json:"position"`
	EventID    string           `json:"eventId"`
	Type       string           `json:"type"`
	RecordedAt time.Time        `json:"recordedAt"`
	// Data and Metadata are the stored bytes. When they are not compact
	// UTF-8 JSON, DataBase64 and MetadataBase64 carry them instead, because
	// encoding/json compacts a json.RawMessage that it writes.
	Data           json.RawMessage `json:"data,omitempty"`
	DataBase64     []byte          `json:"dataBase64,omitempty"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	MetadataBase64 []byte          `json:"metadataBase64,omitempty"`
}

type exportedPosition struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

func newExportedEvent(e eventstore.RecordedEvent) exportedEvent {
	revision := e.Revision
	line := exportedEvent{
		Stream:     e.StreamID,
		Revision:   &revision,
		Position:   exportedPosition{Commit: e.Position.Commit, Prepare: e.Position.Prepare},
		EventID:    e.ID,
		Type:       e.Type,
		RecordedAt: e.RecordedAt,
	}
	if isCompactJSON(e.Data) {
		line.Data = e.Data
	} else {
		line.DataBase64 = e.Data
	}
	if isCompactJSON(e.Metadata) {
		line.Metadata = e.Metadata
	} else {
		line.MetadataBase64 = e.Metadata
	}
	return line
}

// isCompactJSON reports whether b is one JSON value in UTF-8 with no
// whitespace outside strings. An Encoder without HTML escaping writes such
// a json.RawMessage byte for byte, and decoding the line gives the same
// bytes back.
func isCompactJSON(b []byte) bool {
	if len(b) == 0 || !utf8.Valid(b) {
		return false
	}
	var compact bytes.Buffer
	compact.Grow(len(b))
	if err := json.Compact(&compact, b); err != nil {
		return false
	}
	return bytes.Equal(compact.Bytes(), b)
}

// parseExportedEvent parses one line of an export into the event as it was
// stored. It rejects unknown members, text after the object, and lines
// without stream, revision, event id, type or metadata.
func parseExportedEvent(line []byte) (eventstore.RecordedEvent, error) {
	decoder := json.NewDecoder(bytes.NewReader(line))
	decoder.DisallowUnknownFields()
	var parsed exportedEvent
	if err := decoder.Decode(&parsed); err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("not an exported event: %w", err)
	}
	if _, err := decoder.Token(); err != io.EOF {
		return eventstore.RecordedEvent{}, errors.New("text follows the event's JSON object")
	}

	var missing []string
	if parsed.Stream == "" {
		missing = append(missing, "stream")
	}
	if parsed.Revision == nil {
		missing = append(missing, "revision")
	}
	if parsed.EventID == "" {
		missing = append(missing, "eventId")
	}
	if parsed.Type == "" {
		missing = append(missing, "type")
	}
	if parsed.Metadata == nil && parsed.MetadataBase64 == nil {
		missing = append(missing, "metadata")
	}
	if len(missing) > 0 {
		return eventstore.RecordedEvent{}, fmt.Errorf("missing %v", missing)
	}
	if parsed.Data != nil && parsed.DataBase64 != nil {
		return eventstore.RecordedEvent{}, errors.New("has both data and dataBase64")
	}
	if parsed.Metadata != nil && parsed.MetadataBase64 != nil {
		return eventstore.RecordedEvent{}, errors.New("has both metadata and metadataBase64")
	}

	event := eventstore.RecordedEvent{
		ID:         parsed.EventID,
		StreamID:   parsed.Stream,
		Type:       parsed.Type,
		Revision:   *parsed.Revision,
		Position:   eventstore.Position{Commit: parsed.Position.Commit, Prepare: parsed.Position.Prepare},
		Data:       parsed.Data,
		Metadata:   parsed.Metadata,
		RecordedAt: parsed.RecordedAt,
	}
	if parsed.DataBase64 != nil {
		event.Data = parsed.DataBase64
	}
	if parsed.MetadataBase64 != nil {
		event.Metadata = parsed.MetadataBase64
	}
	return event, nil
}

// replacementFile is a temporary file in the directory of path that
// replaces path on Commit, so that a failed export leaves no partial file
// behind.
type replacementFile struct {
	*os.File
	path string
	done bool
}

func createReplacement(path string) (*replacementFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create export file next to %s: %w", path, err)
	}
	return &replacementFile{File: f, path: path}, nil
}

// Commit flushes the file to disk and renames it to its path.
func (f *replacementFile) Commit() error {
	f.done = true
	if err := f.Sync(); err != nil {
		f.remove()
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := os.Rename(f.Name(), f.path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("replace %s: %w", f.path, err)
	}
	return nil
}

// Abort removes the file unless Commit ran.
func (f *replacementFile) Abort() {
	if !f.done {
		f.done = true
		f.remove()
	}
}

func (f *replacementFile) remove() {
	f.Close()
	os.Remove(f.Name())
}
