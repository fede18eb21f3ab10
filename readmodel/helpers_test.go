package readmodel_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/embedded"
	"github.com/integrationplatform/onboarding/keyring/keyringtest"
	"github.com/integrationplatform/onboarding/readmodel"
)

// base is the time of the first command in every scenario. Scenarios give
// each command an OccurredAt relative to it, so times in views are exact.
var base = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

// hours returns the time n hours after base.
func hours(n float64) time.Time {
	return base.Add(time.Duration(n * float64(time.Hour)))
}

// actorID is the user id that scenarios store as the actor of every event.
const actorID = "engineer-1"

// openStore opens an embedded store in a temporary directory and closes it
// when the test ends.
func openStore(t *testing.T) *embedded.Store {
	t.Helper()
	dir := t.TempDir()
	store, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatalf("embedded.Open(%s) failed: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("Close of the store in %s failed: %v", dir, err)
		}
	})
	return store
}

// scenario drives projects through commands. The aggregate decides each
// command and the events are appended to a real embedded store. When
// models is set, the stored events are read back, decoded and applied to
// models in store order, as the projector does but synchronously.
type scenario struct {
	t        *testing.T
	store    *embedded.Store
	codec    *eventstore.Codec
	models   *readmodel.Models
	projects map[string]*domain.Project
}

// newScenario returns a scenario on a new store. With models nil it only
// writes, for tests in which a projector feeds the read models.
func newScenario(t *testing.T, models *readmodel.Models) *scenario {
	t.Helper()
	return &scenario{t: t, store: openStore(t), codec: keyringtest.Codec(t), models: models, projects: map[string]*domain.Project{}}
}

// start starts a project with a new id at time at and returns the id.
func (s *scenario) start(at time.Time, cmd domain.StartProject) string {
	s.t.Helper()
	cmd.ProjectID = uuid.NewString()
	s.projects[cmd.ProjectID] = domain.NewProject(cmd.ProjectID)
	s.do(cmd.ProjectID, at, cmd)
	return cmd.ProjectID
}

// do runs commands on the project at time at, stores their events in one
// append and applies them to the models, if the scenario has models. It
// fails the test when a command is rejected or an event is not applied.
func (s *scenario) do(projectID string, at time.Time, cmds ...domain.Command) []eventstore.Envelope {
	s.t.Helper()
	envelopes := s.record(projectID, at, cmds...)
	if s.models == nil {
		return envelopes
	}
	for _, env := range envelopes {
		s.apply(env)
	}
	return envelopes
}

// apply applies one envelope to the models and fails the test on an error.
func (s *scenario) apply(env eventstore.Envelope) {
	s.t.Helper()
	if err := s.models.Apply(env); err != nil {
		s.t.Fatalf("Apply of %s at revision %d of project %s failed: %v", env.Type, env.Revision, env.ProjectID, err)
	}
}

// record runs commands on the project at time at and stores their events in
// one append, without applying them. It returns the stored events, decoded.
func (s *scenario) record(projectID string, at time.Time, cmds ...domain.Command) []eventstore.Envelope {
	s.t.Helper()
	p, ok := s.projects[projectID]
	if !ok {
		s.t.Fatalf("project %s was not started in this scenario", projectID)
	}
	from := p.Version()
	var events []domain.Event
	for _, cmd := range cmds {
		out, err := p.Decide(cmd)
		if err != nil {
			s.t.Fatalf("%s %+v on project %s: %v", domain.CommandName(cmd), cmd, projectID, err)
		}
		for _, e := range out {
			p.Apply(e)
		}
		events = append(events, out...)
	}
	if len(events) == 0 {
		return nil
	}
	s.appendEvents(projectID, from, at, events...)
	return s.readStream(projectID, from)
}

// appendEvents appends events to the project's stream, which must contain
// from events, with the scenario's actor and OccurredAt set to at.
func (s *scenario) appendEvents(projectID string, from int, at time.Time, events ...domain.Event) eventstore.AppendResult {
	s.t.Helper()
	md := eventstore.Metadata{Actor: eventstore.Actor{UserID: actorID, Role: "engineer"}, OccurredAt: at}
	data := make([]eventstore.EventData, len(events))
	prev := s.lastHash(projectID, from)
	for i, e := range events {
		var err error
		if data[i], prev, err = s.codec.Encode(context.Background(), uuid.NewString(), projectID, e, md, prev); err != nil {
			s.t.Fatalf("Encode of %s failed: %v", e.EventType(), err)
		}
	}
	expected := eventstore.NoStream()
	if from > 0 {
		expected = eventstore.Exact(uint64(from - 1))
	}
	res, err := s.store.Append(context.Background(), eventstore.StreamName(projectID), expected, data...)
	if err != nil {
		s.t.Fatalf("Append of %d events to project %s failed: %v", len(data), projectID, err)
	}
	return res
}

// readStream returns the project's stored events from revision from on,
// decoded.
func (s *scenario) readStream(projectID string, from int) []eventstore.Envelope {
	s.t.Helper()
	records, err := s.store.ReadStream(context.Background(), eventstore.StreamName(projectID), uint64(from), 0)
	if err != nil {
		s.t.Fatalf("ReadStream of project %s from revision %d failed: %v", projectID, from, err)
	}
	envelopes := make([]eventstore.Envelope, len(records))
	for i, r := range records {
		if envelopes[i], err = s.codec.Decode(context.Background(), r); err != nil {
			s.t.Fatalf("Decode of stored event %s failed: %v", r.ID, err)
		}
	}
	return envelopes
}

// aggregate returns the scenario's aggregate of the project.
func (s *scenario) aggregate(projectID string) *domain.Project {
	return s.projects[projectID]
}

// answerStep answers every question asked in the step with a valid value.
func (s *scenario) answerStep(projectID string, at time.Time, stepID string) {
	s.t.Helper()
	p := s.aggregate(projectID)
	step := mustStep(s.t, stepID)
	var cmds []domain.Command
	for _, a := range p.AskedQuestions(step) {
		cmds = append(cmds, domain.SubmitAnswer{QuestionID: a.Question.ID, SystemID: a.Key().SystemID, Value: validAnswer(p, a)})
	}
	s.do(projectID, at, cmds...)
}

// completePhase makes every applicable step of the phase ready, with a
// contact where one is needed and a passed run of every test, and completes
// the steps.
func (s *scenario) completePhase(projectID string, at time.Time, phaseID string) {
	s.t.Helper()
	p := s.aggregate(projectID)
	for _, ph := range p.Template().Phases {
		if ph.ID != phaseID {
			continue
		}
		for _, step := range ph.Steps {
			if !p.Applicable(step) {
				continue
			}
			if step.RequiresContact && len(p.Contacts()) == 0 {
				s.do(projectID, at, domain.AddContact{ContactID: "c-" + step.ID, Name: "Anna Andersson", Email: "anna@example.se"})
			}
			s.answerStep(projectID, at, step.ID)
			for _, test := range step.Tests {
				s.do(projectID, at, domain.RecordTestResult{StepID: step.ID, TestID: test.ID, Passed: true})
			}
			s.do(projectID, at, domain.CompleteStep{StepID: step.ID})
		}
		return
	}
	s.t.Fatalf("phase %q is not in the project's template", phaseID)
}

// completeProject completes every applicable step and then the project.
func (s *scenario) completeProject(projectID string, at time.Time) {
	s.t.Helper()
	for _, ph := range s.aggregate(projectID).Template().Phases {
		s.completePhase(projectID, at, ph.ID)
	}
	s.do(projectID, at, domain.CompleteProject{})
}

// validAnswer returns a valid answer in canonical form. It answers yes to
// every confirmation, so the answer counts in the questionnaire.
func validAnswer(p *domain.Project, a domain.Asked) string {
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

// mustStep returns the step of the current template with id.
func mustStep(t *testing.T, id string) *domain.Step {
	t.Helper()
	step, ok := domain.CurrentTemplate().Step(id)
	if !ok {
		t.Fatalf("step %q is not in template version %d", id, domain.CurrentTemplateVersion)
	}
	return step
}

// hostedStart starts a project for the customer with a Shopify shop and
// Fortnox and without settlement, so that install-plugin and the settlement
// steps do not apply.
func hostedStart(customerID string) domain.StartProject {
	return domain.StartProject{
		CustomerID: customerID, CustomerName: "Customer " + customerID, Name: "Onboarding of " + customerID, EstimatedHours: 10,
		Systems: []domain.SystemInput{{Name: "Shopify store", Platform: "SHOPIFY"}, {Name: "Fortnox", Platform: "FORTNOX"}},
	}
}

// settlementStart starts a settlement project for the customer with a
// WooCommerce shop, Fortnox, Klarna and PostNord, so that every step
// applies.
func settlementStart(customerID string) domain.StartProject {
	return domain.StartProject{
		CustomerID: customerID, CustomerName: "Customer " + customerID, Name: "Settlement onboarding of " + customerID, EstimatedHours: 40, UsesSettlement: true,
		Systems: []domain.SystemInput{
			{Name: "WooCommerce shop", Platform: "WOOCOMMERCE"}, {Name: "Fortnox", Platform: "FORTNOX"},
			{Name: "Klarna", Platform: "KLARNA"}, {Name: "PostNord", Platform: "POSTNORD"},
		},
	}
}

// findStep returns the view of the step, failing the test when the view has
// none.
func findStep(t *testing.T, v *readmodel.Project, stepID string) readmodel.Step {
	t.Helper()
	for _, ph := range v.Phases {
		for _, st := range ph.Steps {
			if st.ID == stepID {
				return st
			}
		}
	}
	t.Fatalf("project view %s has no step %q", v.ID, stepID)
	return readmodel.Step{}
}

// findPhase returns the view of the phase.
func findPhase(t *testing.T, v *readmodel.Project, phaseID string) readmodel.Phase {
	t.Helper()
	for _, ph := range v.Phases {
		if ph.ID == phaseID {
			return ph
		}
	}
	t.Fatalf("project view %s has no phase %q", v.ID, phaseID)
	return readmodel.Phase{}
}

// findQuestion returns the view of the asked question with the key, such
// as "api-credentials@fortnox".
func findQuestion(t *testing.T, v *readmodel.Project, key string) readmodel.Question {
	t.Helper()
	for _, ph := range v.Phases {
		for _, st := range ph.Steps {
			for _, q := range st.Questions {
				if q.Key == key {
					return q
				}
			}
		}
	}
	t.Fatalf("project view %s has no question with key %q", v.ID, key)
	return readmodel.Question{}
}

// mustProject returns the view of the project, failing the test when the
// models have none.
func mustProject(t *testing.T, models *readmodel.Models, projectID string) *readmodel.Project {
	t.Helper()
	v, ok := models.Project(projectID)
	if !ok {
		t.Fatalf("Project(%s) found no project", projectID)
	}
	return v
}

// viewJSON returns the JSON encoding of the view, for searching every string
// it contains.
func viewJSON(t *testing.T, v *readmodel.Project) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal of the view of project %s failed: %v", v.ID, err)
	}
	return string(raw)
}

// drain returns the changes already buffered in the subscription, without
// waiting for more.
func drain(sub *readmodel.Subscription) []readmodel.Change {
	var changes []readmodel.Change
	for {
		select {
		case c, ok := <-sub.C:
			if !ok {
				return changes
			}
			changes = append(changes, *c)
		default:
			return changes
		}
	}
}

// projectIDs returns the project ids of the changes, in order.
func projectIDs(changes []readmodel.Change) []string {
	ids := make([]string, len(changes))
	for i, c := range changes {
		ids[i] = c.Envelope.ProjectID
	}
	return ids
}

// lastHash returns the chain hash of the stream's event before revision
// from, or "" for an empty stream.
func (s *scenario) lastHash(projectID string, from int) string {
	s.t.Helper()
	if from == 0 {
		return ""
	}
	records, err := s.store.ReadStream(context.Background(), eventstore.StreamName(projectID), uint64(from-1), 1)
	if err != nil {
		s.t.Fatalf("read the last event of %s: %v", projectID, err)
	}
	env, err := s.codec.Decode(context.Background(), records[0])
	if err != nil {
		s.t.Fatal(err)
	}
	return env.Metadata.Hash
}
