package domain_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

// sampleEvents has one event of every type, with every field set.
var sampleEvents = []domain.Event{
	&domain.ProjectStarted{ProjectID: "p-2", CustomerID: "customer-1", CustomerName: "Acme AB", Name: "New marketplace", TemplateVersion: 1,
		Systems: []domain.System{wooShop, fortnox}, UsesSettlement: true, EstimatedHours: 4.5, PreviousProjectID: "p-1"},
	&domain.AnswerSubmitted{QuestionID: "api-credentials", SystemID: "fortnox", Value: "key", Secret: true},
	&domain.ContactAdded{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se", Phone: "+46 70-123 45 67", Role: "CFO"},
	&domain.ContactRemoved{ContactID: "c1"},
	&domain.StepCompleted{StepID: "flows"},
	&domain.StepReopened{StepID: "flows", Reason: "price master changed"},
	&domain.TestResultRecorded{StepID: "order-testing", TestID: "joint-test-run", Passed: true, Notes: "second run"},
	&domain.TimeLogged{Minutes: 75, Description: "configuration", StepID: "flows"},
	&domain.WaitingOnCustomerMarked{Reason: "payment files"},
	&domain.WorkResumed{},
	&domain.ProjectCompleted{},
	&domain.ProjectCancelled{Reason: "customer withdrew"},
	&domain.SecretRevealed{QuestionID: "api-credentials", SystemID: "fortnox", Version: 7},
	&domain.PersonalDataErased{Reason: "customer asked for deletion"},
}

func TestEventTypesAreStable(t *testing.T) {
	want := []string{
		"AnswerSubmitted", "ContactAdded", "ContactRemoved", "PersonalDataErased", "ProjectCancelled", "ProjectCompleted", "ProjectStarted",
		"SecretRevealed", "StepCompleted", "StepReopened", "TestResultRecorded", "TimeLogged", "WaitingOnCustomerMarked", "WorkResumed",
	}
	got := domain.EventTypes()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("EventTypes() = %q\nexpected %q", got, want)
	}

	// A new schema version needs an upcaster and a golden file of the old
	// version in eventstore/testdata/events.
	versions := map[string]int{"TimeLogged": 2}
	var sampled []string
	for _, e := range sampleEvents {
		sampled = append(sampled, e.EventType())
		want := max(versions[e.EventType()], 1)
		if e.SchemaVersion() != want {
			t.Errorf("%s schema version = %d, expected %d", e.EventType(), e.SchemaVersion(), want)
		}
	}
	slices.Sort(sampled)
	if !slices.Equal(sampled, want) {
		t.Errorf("sample events cover %q, expected one of each type %q", sampled, want)
	}
}

func TestEventsRoundTripJSON(t *testing.T) {
	for _, e := range sampleEvents {
		t.Run(e.EventType(), func(t *testing.T) {
			data, err := json.Marshal(e)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			decoded, err := domain.NewEvent(e.EventType())
			if err != nil {
				t.Fatalf("NewEvent(%q): %v", e.EventType(), err)
			}
			if err := json.Unmarshal(data, decoded); err != nil {
				t.Fatalf("unmarshal %s: %v", data, err)
			}
			if !reflect.DeepEqual(decoded, e) {
				t.Errorf("decoded %s = %+v, expected %+v", data, decoded, e)
			}
		})
	}
}

func TestEventJSONFieldNames(t *testing.T) {
	data, err := json.Marshal(&domain.AnswerSubmitted{QuestionID: "sync-stock", Value: "true"})
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if got, want := string(data), `{"questionId":"sync-stock","value":"true"}`; got != want {
		t.Errorf("AnswerSubmitted JSON = %s, expected %s", got, want)
	}
}

func TestNewEventUnknownType(t *testing.T) {
	e, err := domain.NewEvent("ProjectArchived")
	if err == nil {
		t.Fatalf("NewEvent(ProjectArchived) = %T, expected an error", e)
	}
	if !strings.Contains(err.Error(), "ProjectArchived") {
		t.Errorf("error %q does not name the type", err)
	}
}

func TestApplyDecodedEventsRebuildsState(t *testing.T) {
	original := givenCompletedBefore(settlementStart(), "product-sync")
	history := []domain.Event{settlementStart()}
	for _, s := range original.Template().Steps() {
		if s.ID == "product-sync" {
			break
		}
		history = append(history, readyEvents(original, s)...)
		history = append(history, &domain.StepCompleted{StepID: s.ID})
	}

	replayed := domain.NewProject(projectID)
	for _, e := range history {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("marshal %s: %v", e.EventType(), err)
		}
		decoded, err := domain.NewEvent(e.EventType())
		if err != nil {
			t.Fatalf("NewEvent(%q): %v", e.EventType(), err)
		}
		if err := json.Unmarshal(data, decoded); err != nil {
			t.Fatalf("unmarshal %s: %v", data, err)
		}
		replayed.Apply(decoded)
	}

	if replayed.Version() != original.Version() {
		t.Errorf("replayed version = %d, expected %d", replayed.Version(), original.Version())
	}
	for _, s := range original.Template().Steps() {
		if replayed.StepCompleted(s.ID) != original.StepCompleted(s.ID) {
			t.Errorf("step %q completed = %t after replay, expected %t", s.ID, replayed.StepCompleted(s.ID), original.StepCompleted(s.ID))
		}
	}
	for _, s := range original.Template().Steps() {
		for _, a := range original.AskedQuestions(s) {
			want, wantOK := original.Answer(a.Key())
			got, ok := replayed.Answer(a.Key())
			if got != want || ok != wantOK {
				t.Errorf("Answer(%s) = %q, %t after replay, expected %q, %t", a.Key(), got, ok, want, wantOK)
			}
		}
	}
	if !reflect.DeepEqual(replayed.Contacts(), original.Contacts()) {
		t.Errorf("replayed contacts = %+v, expected %+v", replayed.Contacts(), original.Contacts())
	}
}

// unknownEvent is an event type that Apply does not handle.
type unknownEvent struct{}

func (unknownEvent) EventType() string  { return "Unknown" }
func (unknownEvent) SchemaVersion() int { return 1 }

func TestApplyUnknownEventPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Apply of an unknown event type did not panic")
		}
	}()

	given(settlementStart()).Apply(unknownEvent{})
}

func TestKindOfWrappedError(t *testing.T) {
	p := given(settlementStart())
	_, err := p.Decide(domain.CompleteStep{StepID: "go-live"})

	wrapped := fmt.Errorf("handle command: %w", err)

	if got := domain.KindOf(wrapped); got != domain.KindNotFound {
		t.Errorf("KindOf(wrapped) = %q, expected %q", got, domain.KindNotFound)
	}
	if got := domain.KindOf(errors.New("disk full")); got != "" {
		t.Errorf("KindOf(plain error) = %q, expected empty", got)
	}
	if got := domain.KindOf(nil); got != "" {
		t.Errorf("KindOf(nil) = %q, expected empty", got)
	}
}

func TestErrorMessageListsMissing(t *testing.T) {
	withMissing := &domain.Error{Kind: domain.KindRuleViolation, Message: "step \"flows\" is not ready to complete", Missing: []string{"answer:sync-stock", "answer:price-master"}}
	if got, want := withMissing.Error(), `step "flows" is not ready to complete (missing: answer:sync-stock, answer:price-master)`; got != want {
		t.Errorf("Error() = %q, expected %q", got, want)
	}

	plain := &domain.Error{Kind: domain.KindInvalid, Message: "hours 0 is out of range"}
	if got := plain.Error(); got != "hours 0 is out of range" {
		t.Errorf("Error() = %q, expected the message alone", got)
	}
}

func TestCommandNamesAreDistinct(t *testing.T) {
	commands := append(everyCommand(), validStart())
	seen := map[string]bool{}
	for _, cmd := range commands {
		name := domain.CommandName(cmd)
		if name == "" || seen[name] {
			t.Errorf("command %T has name %q, expected a distinct non-empty name", cmd, name)
		}
		seen[name] = true
	}
}
