package domain_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

// projectID is the id of the project in every scenario.
const projectID = "p-1"

// Connected systems used by the scenarios. Their ids are the slugs that
// StartProject derives from the names.
var (
	wooShop  = domain.System{ID: "woocommerce-shop", Name: "WooCommerce shop", Platform: "WOOCOMMERCE"}
	shopify  = domain.System{ID: "shopify-store", Name: "Shopify store", Platform: "SHOPIFY"}
	fortnox  = domain.System{ID: "fortnox", Name: "Fortnox", Platform: "FORTNOX"}
	klarna   = domain.System{ID: "klarna", Name: "Klarna", Platform: "KLARNA"}
	postnord = domain.System{ID: "postnord", Name: "PostNord", Platform: "POSTNORD"}
)

// started returns the first event of a project with the given systems.
func started(usesSettlement bool, systems ...domain.System) *domain.ProjectStarted {
	return &domain.ProjectStarted{
		ProjectID:       projectID,
		CustomerID:      "customer-1",
		CustomerName:    "Acme AB",
		Name:            "Acme onboarding",
		TemplateVersion: domain.CurrentTemplateVersion,
		Systems:         systems,
		UsesSettlement:  usesSettlement,
		EstimatedHours:  12,
	}
}

// settlementStart starts a settlement project with an open-source shop, an
// ERP, a payment provider and a transport administration, so that every
// step of the template applies.
func settlementStart() *domain.ProjectStarted {
	return started(true, wooShop, fortnox, klarna, postnord)
}

// hostedStart starts a project with a hosted shop and no settlement, so that
// install-plugin and the settlement steps do not apply.
func hostedStart() *domain.ProjectStarted {
	return started(false, shopify, fortnox)
}

// given returns a project with the events applied in order.
func given(events ...domain.Event) *domain.Project {
	p := domain.NewProject(projectID)
	for _, e := range events {
		p.Apply(e)
	}
	return p
}

// when decides cmd on p and checks that deciding left p unchanged.
func when(t *testing.T, p *domain.Project, cmd domain.Command) ([]domain.Event, error) {
	t.Helper()
	before := p.Version()
	events, err := p.Decide(cmd)
	if p.Version() != before {
		t.Errorf("Decide(%s) changed the project version from %d to %d; only Apply may change state", domain.CommandName(cmd), before, p.Version())
	}
	return events, err
}

// run decides cmd on p, fails the test on an error and applies the events.
func run(t *testing.T, p *domain.Project, cmd domain.Command) []domain.Event {
	t.Helper()
	events, err := when(t, p, cmd)
	if err != nil {
		t.Fatalf("%s %+v: unexpected error: %v", domain.CommandName(cmd), cmd, err)
	}
	for _, e := range events {
		p.Apply(e)
	}
	return events
}

// thenEvents checks that the command succeeded with exactly the expected
// events.
func thenEvents(t *testing.T, got []domain.Event, err error, want ...domain.Event) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v; expected events %s", err, describe(want))
	}
	if len(want) == 0 {
		if len(got) != 0 {
			t.Errorf("events = %s, expected none", describe(got))
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events = %s\nexpected %s", describe(got), describe(want))
	}
}

// thenError checks that the command failed with a *domain.Error of the
// kind and rule, and returned no events. rule is "" for kinds other than
// KindRuleViolation.
func thenError(t *testing.T, got []domain.Event, err error, kind domain.ErrorKind, rule string) *domain.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error and events %s, expected a *domain.Error of kind %s", describe(got), kind)
	}
	if len(got) != 0 {
		t.Errorf("events = %s alongside error %v, expected none", describe(got), err)
	}
	var de *domain.Error
	if !errors.As(err, &de) {
		t.Fatalf("error = %v (%T), expected a *domain.Error of kind %s", err, err, kind)
	}
	if de.Kind != kind {
		t.Errorf("error kind = %s, expected %s (message: %s)", de.Kind, kind, de.Message)
	}
	if de.Rule != rule {
		t.Errorf("error rule = %q, expected %q (message: %s)", de.Rule, rule, de.Message)
	}
	if de.Message == "" {
		t.Error("error message is empty")
	}
	return de
}

// thenInvalid checks that the command failed with KindInvalid on field.
func thenInvalid(t *testing.T, got []domain.Event, err error, field string) *domain.Error {
	t.Helper()
	de := thenError(t, got, err, domain.KindInvalid, "")
	if de.Field != field {
		t.Errorf("error field = %q, expected %q (message: %s)", de.Field, field, de.Message)
	}
	return de
}

// thenMissing checks the Missing list of a rule violation, in order.
func thenMissing(t *testing.T, de *domain.Error, want ...string) {
	t.Helper()
	if !slices.Equal(de.Missing, want) {
		t.Errorf("missing = %q\nexpected %q", de.Missing, want)
	}
}

func describe(events []domain.Event) string {
	if len(events) == 0 {
		return "[]"
	}
	parts := make([]string, len(events))
	for i, e := range events {
		parts[i] = e.EventType() + strings.TrimPrefix(fmt.Sprintf("%+v", e), "&")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// mustStep returns the step of the current template with id.
func mustStep(t *testing.T, id string) *domain.Step {
	t.Helper()
	s, ok := domain.CurrentTemplate().Step(id)
	if !ok {
		t.Fatalf("step %q is not in template version %d", id, domain.CurrentTemplateVersion)
	}
	return s
}

// canonicalAnswer returns a valid answer to the asked question in the
// canonical form that AnswerSubmitted stores.
func canonicalAnswer(p *domain.Project, a domain.Asked) string {
	switch a.Question.Kind {
	case domain.KindBoolean, domain.KindConfirmation:
		return "true"
	case domain.KindChoice:
		return a.Question.Options[0].ID
	case domain.KindSystem:
		return p.Systems()[0].ID
	case domain.KindNumber:
		return "3001"
	default:
		return "answer to " + a.Key().String()
	}
}

// readyEvents returns the events that make the step ready to complete: a
// valid answer to every question asked in it, a contact when the step needs
// one, and a passed run of every test.
func readyEvents(p *domain.Project, s *domain.Step) []domain.Event {
	var events []domain.Event
	if s.RequiresContact {
		events = append(events, &domain.ContactAdded{ContactID: "c-ready", Name: "Anna Andersson", Email: "anna@example.se"})
	}
	for _, a := range p.AskedQuestions(s) {
		key := a.Key()
		events = append(events, &domain.AnswerSubmitted{QuestionID: key.QuestionID, SystemID: key.SystemID, Value: canonicalAnswer(p, a)})
	}
	for _, test := range s.Tests {
		events = append(events, &domain.TestResultRecorded{StepID: s.ID, TestID: test.ID, Passed: true})
	}
	return events
}

// givenCompletedBefore returns a project started by start on which every
// applicable step before stopStepID, in template order, is ready and
// completed. An empty stopStepID completes every applicable step.
func givenCompletedBefore(start *domain.ProjectStarted, stopStepID string) *domain.Project {
	p := given(start)
	for _, s := range p.Template().Steps() {
		if s.ID == stopStepID {
			break
		}
		if !p.Applicable(s) {
			continue
		}
		for _, e := range readyEvents(p, s) {
			p.Apply(e)
		}
		p.Apply(&domain.StepCompleted{StepID: s.ID})
	}
	return p
}

// stepIDs returns "step:<id>" for each id, as RulePhaseOrder and
// RuleProjectIncomplete report open steps.
func stepIDs(ids ...string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = "step:" + id
	}
	return out
}
