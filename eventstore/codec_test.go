package eventstore

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/integrationplatform/onboarding/domain"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/events")

// sampleEvents has one example of every event type, with every field set.
var sampleEvents = []domain.Event{
	&domain.ProjectStarted{ProjectID: "0b6f4c9e-2f0e-4c53-9d55-3c1f3e0a9b10", CustomerID: "nordic-garden-ab", CustomerName: "Nordic Garden AB",
		Name: "Shop and Fortnox", TemplateVersion: 1, UsesSettlement: true, EstimatedHours: 24,
		Systems:           []domain.System{{ID: "webshop", Name: "Webshop", Platform: "WOOCOMMERCE"}, {ID: "klarna", Name: "Klarna", Platform: "KLARNA"}},
		PreviousProjectID: "5a1d2c3b-0000-4000-8000-000000000001"},
	&domain.AnswerSubmitted{QuestionID: "api-credentials", SystemID: "webshop", Value: "ck_4f2a", Secret: true},
	&domain.ContactAdded{ContactID: "c1", Name: "Anna Lind", Email: "anna@example.com", Phone: "+46 70 123 45 67", Role: "Owner"},
	&domain.ContactRemoved{ContactID: "c1"},
	&domain.StepCompleted{StepID: "flows"},
	&domain.StepReopened{StepID: "flows", Reason: "stock master changed"},
	&domain.TestResultRecorded{StepID: "order-testing", TestID: "joint-test-run", Passed: false, Notes: "VAT on shipping wrong"},
	&domain.TimeLogged{Minutes: 90, Description: "configuration", StepID: "order-flow"},
	&domain.WaitingOnCustomerMarked{Reason: "API key missing"},
	&domain.WorkResumed{},
	&domain.ProjectCompleted{},
	&domain.ProjectCancelled{Reason: "customer left"},
	&domain.SecretRevealed{QuestionID: "api-credentials", SystemID: "webshop", Version: 7},
	&domain.PersonalDataErased{Reason: "customer asked for deletion"},
}

// goldenCodec seals with a fixed data key and all-zero nonces, so that the
// golden files pin the sealed bytes. Real nonces are random.
func goldenCodec() *Codec {
	c := NewCodec(newTestKeys())
	c.random = zeroReader{}
	return c
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

var sampleMetadata = Metadata{
	Actor:          Actor{UserID: "engineer-1", Role: "engineer"},
	CorrelationID:  "req-1",
	CausationID:    "cmd-1",
	OccurredAt:     time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC),
	IdempotencyKey: "key-1",
}

// TestEventGoldenFiles fails when the stored JSON of an event changes. A
// change of shape needs a new schema version and an upcaster, because
// stored events outlive the code that wrote them.
func TestEventGoldenFiles(t *testing.T) {
	if len(sampleEvents) != len(domain.EventTypes()) {
		t.Fatalf("%d sample events for %d event types; add a sample of the new type", len(sampleEvents), len(domain.EventTypes()))
	}
	for _, e := range sampleEvents {
		name := fmt.Sprintf("%s.v%d.json", e.EventType(), e.SchemaVersion())
		t.Run(name, func(t *testing.T) {
			data, _, err := goldenCodec().Encode(context.Background(), "id-1", "p1", e, sampleMetadata, "")
			if err != nil {
				t.Fatal(err)
			}
			var stored bytes.Buffer
			stored.WriteString(`{"type":` + fmt.Sprintf("%q", data.Type) + `,"data":`)
			stored.Write(data.Data)
			stored.WriteString(`,"metadata":`)
			stored.Write(data.Metadata)
			stored.WriteString("}")
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, stored.Bytes(), "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')

			path := filepath.Join("testdata", "events", name)
			if *updateGolden {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test ./eventstore -update to create it): %v", err)
			}
			if !bytes.Equal(golden, pretty.Bytes()) {
				t.Errorf("stored JSON of %s changed without a new schema version:\ngot  %s\nwant %s", e.EventType(), pretty.Bytes(), golden)
			}
		})
	}
}

// TestDecodeGoldenFiles decodes every golden file back into the event it
// came from, as a replay of an old log does.
func TestDecodeGoldenFiles(t *testing.T) {
	for _, want := range sampleEvents {
		name := fmt.Sprintf("%s.v%d.json", want.EventType(), want.SchemaVersion())
		raw, err := os.ReadFile(filepath.Join("testdata", "events", name))
		if err != nil {
			t.Fatal(err)
		}
		var stored struct {
			Type     string
			Data     json.RawMessage
			Metadata json.RawMessage
		}
		if err := json.Unmarshal(raw, &stored); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		env, err := goldenCodec().Decode(context.Background(), RecordedEvent{ID: "id-1", StreamID: StreamName("p1"), Type: stored.Type, Data: stored.Data, Metadata: stored.Metadata})
		if err != nil {
			t.Fatalf("decode %s: %v", name, err)
		}
		if !reflect.DeepEqual(env.Event, want) {
			t.Errorf("%s decoded to %+v, want %+v", name, env.Event, want)
		}
		if env.ProjectID != "p1" || env.Metadata.Actor != sampleMetadata.Actor || env.Metadata.SchemaVersion != want.SchemaVersion() {
			t.Errorf("%s envelope = %+v", name, env)
		}
	}
}

func TestDecodeRejectsNewerSchema(t *testing.T) {
	_, err := NewCodec(nil).Decode(context.Background(), RecordedEvent{ID: "id-1", StreamID: StreamName("p1"), Type: domain.TypeWorkResumed, Data: []byte(`{}`), Metadata: []byte(`{"schemaVersion":9}`)})
	if err == nil {
		t.Fatal("schema version 9 decoded without error")
	}
}

func TestDecodeRejectsUnknownType(t *testing.T) {
	_, err := NewCodec(nil).Decode(context.Background(), RecordedEvent{ID: "id-1", StreamID: StreamName("p1"), Type: "ProjectTeleported", Data: []byte(`{}`), Metadata: []byte(`{}`)})
	if err == nil {
		t.Fatal("unknown event type decoded without error")
	}
}

func TestCursorRoundTrip(t *testing.T) {
	p := Position{Commit: 1234567890123, Prepare: 1234567890000}
	got, err := ParseCursor(p.Cursor())
	if err != nil || got != p {
		t.Errorf("ParseCursor(Cursor()) = %v, %v; want %v", got, err, p)
	}
	if _, err := ParseCursor("bm9wZQ"); err == nil {
		t.Error("ParseCursor accepted a cursor that is not a position")
	}
}

func TestFilterSkipsSystemStreams(t *testing.T) {
	if (Filter{}).Match("$stats-127.0.0.1") {
		t.Error("zero filter matched a system stream")
	}
	if !(Filter{}).Match("project-1") {
		t.Error("zero filter did not match project-1")
	}
	if !(Filter{StreamPrefix: "project-"}).Match("project-1") {
		t.Error("prefix filter did not match project-1")
	}
	if (Filter{StreamPrefix: "project-"}).Match("order-1") {
		t.Error("prefix filter project- matched order-1")
	}
}

// oldVersions are stored examples of earlier schema versions, with the
// event each must decode to through the upcasters.
var oldVersions = map[string]domain.Event{
	"TimeLogged.v1.json": &domain.TimeLogged{Minutes: 90, Description: "configuration", StepID: "order-flow"},
	// Written before secret answers were flagged and sealed: the value is
	// plain text and stays readable.
	"AnswerSubmitted.v1.unsealed.json": &domain.AnswerSubmitted{QuestionID: "api-credentials", SystemID: "webshop", Value: "ck_4f2a"},
	"ContactAdded.v1.unsealed.json":    &domain.ContactAdded{ContactID: "c1", Name: "Anna Lind", Email: "anna@example.com", Phone: "+46 70 123 45 67", Role: "Owner"},
}

// TestDecodeOldVersions replays every stored example of an older schema
// version, as replaying an old log does, and checks that every golden file
// is either current or listed here.
func TestDecodeOldVersions(t *testing.T) {
	current := map[string]bool{}
	for _, e := range sampleEvents {
		current[fmt.Sprintf("%s.v%d.json", e.EventType(), e.SchemaVersion())] = true
	}
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		if current[name] {
			continue
		}
		want, ok := oldVersions[name]
		if !ok {
			t.Errorf("%s is neither a current version nor listed in oldVersions", name)
			continue
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var stored struct {
			Type     string
			Data     json.RawMessage
			Metadata json.RawMessage
		}
		if err := json.Unmarshal(raw, &stored); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		env, err := goldenCodec().Decode(context.Background(), RecordedEvent{ID: "id-1", StreamID: StreamName("p1"), Type: stored.Type, Data: stored.Data, Metadata: stored.Metadata})
		if err != nil {
			t.Fatalf("decode %s: %v", name, err)
		}
		if !reflect.DeepEqual(env.Event, want) {
			t.Errorf("%s decoded to %+v, want %+v", name, env.Event, want)
		}
	}
}
