package readmodel_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/readmodel"
)

// next returns the position right after p in the embedded store, whose
// positions are sequence numbers used as both Commit and Prepare.
func next(p eventstore.Position) eventstore.Position {
	return eventstore.Position{Commit: p.Commit + 1, Prepare: p.Prepare + 1}
}

func TestApplyIgnoresDuplicateDelivery(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))
	first := s.do(id, hours(1), domain.LogTime{Hours: 1, Description: "kickoff"})
	second := s.do(id, hours(2), domain.LogTime{Hours: 2, Description: "workshop"})
	sub := models.Feed().Subscribe("", true)
	defer sub.Close()

	cases := []struct {
		name string
		env  eventstore.Envelope
	}{
		{"last event again", second[0]},
		{"earlier event again", first[0]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := models.Position()

			err := models.Apply(c.env)

			if err != nil {
				t.Fatalf("Apply of the event at %s returned %v, expected nil for a duplicate", c.env.Position, err)
			}
			if got := models.Position(); got != before {
				t.Errorf("position = %s after a duplicate, expected it to stay %s", got, before)
			}
			v := mustProject(t, models, id)
			if v.Version != 3 {
				t.Errorf("version = %d after a duplicate, expected 3", v.Version)
			}
			if v.LoggedHours != 3 {
				t.Errorf("logged hours = %v after a duplicate, expected 3", v.LoggedHours)
			}
			if changes := drain(sub); len(changes) != 0 {
				t.Errorf("feed published %d changes for a duplicate, expected none", len(changes))
			}
		})
	}
}

func TestApplyRejectsFirstEventNotStarted(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	s.start(hours(0), hostedStart("customer-1"))
	id := uuid.NewString()
	env := eventstore.Envelope{
		EventID: uuid.NewString(), ProjectID: id, Revision: 0, Position: next(models.Position()),
		Type: domain.TypeTimeLogged, Event: &domain.TimeLogged{Minutes: 60, Description: "work"},
	}

	err := models.Apply(env)

	if err == nil {
		t.Fatal("Apply of a TimeLogged event as the first event of a project returned nil, expected an error")
	}
	if _, ok := models.Project(id); ok {
		t.Errorf("Project(%s) found a project whose first event was rejected", id)
	}
	if d := models.Dashboard(); d.TotalProjects != 1 {
		t.Errorf("dashboard counts %d projects, expected 1", d.TotalProjects)
	}
}

func TestApplyRejectsRevisionGap(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))
	s.do(id, hours(1), domain.LogTime{Hours: 1, Description: "kickoff"})

	cases := []struct {
		name     string
		revision uint64
		event    domain.Event
	}{
		{"revision skips one", 3, &domain.TimeLogged{Minutes: 60, Description: "gap"}},
		{"revision repeats", 1, &domain.TimeLogged{Minutes: 60, Description: "replay"}},
		{"start again", 2, &domain.ProjectStarted{ProjectID: id, CustomerID: "customer-1", CustomerName: "Customer", Name: "Again", TemplateVersion: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := eventstore.Envelope{
				EventID: uuid.NewString(), ProjectID: id, Revision: c.revision, Position: next(models.Position()),
				Type: c.event.EventType(), Event: c.event,
			}

			err := models.Apply(env)

			if err == nil {
				t.Fatalf("Apply of %s at revision %d of a project at version 2 returned nil, expected an error", env.Type, c.revision)
			}
			v := mustProject(t, models, id)
			if v.Version != 2 {
				t.Errorf("version = %d after a rejected event, expected 2", v.Version)
			}
			if v.LoggedHours != 1 {
				t.Errorf("logged hours = %v after a rejected event, expected 1", v.LoggedHours)
			}
		})
	}
}

// A ProjectStarted event with a revision other than 0 must be rejected
// without leaving a project that has no template in the models, because
// views, List and Dashboard read the template of every project.
func TestApplyRejectsStartAfterGap(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	s.start(hours(0), hostedStart("customer-1"))
	id := uuid.NewString()
	start := &domain.ProjectStarted{
		ProjectID: id, CustomerID: "customer-2", CustomerName: "Customer 2", Name: "Gap", TemplateVersion: 1,
		Systems: []domain.System{{ID: "shop", Name: "Shop", Platform: "SHOPIFY"}},
	}
	env := eventstore.Envelope{
		EventID: uuid.NewString(), ProjectID: id, Revision: 1, Position: next(models.Position()),
		Type: start.EventType(), Event: start,
	}

	err := models.Apply(env)

	if err == nil {
		t.Fatal("Apply of ProjectStarted at revision 1 of a new project returned nil, expected an error")
	}
	// A panic here would end the whole test binary, so each read recovers
	// and reports it.
	readWithoutPanic(t, "Project", func() {
		if _, ok := models.Project(id); ok {
			t.Errorf("Project(%s) found a project whose only event was rejected", id)
		}
	})
	readWithoutPanic(t, "List", func() {
		page, err := models.List(readmodel.ProjectFilter{}, readmodel.MaxPageSize, "")
		if err != nil {
			t.Fatalf("List failed: %v", err)
		}
		if page.TotalCount != 1 {
			t.Errorf("List counts %d projects, expected 1", page.TotalCount)
		}
	})
	readWithoutPanic(t, "Dashboard", func() {
		if d := models.Dashboard(); d.TotalProjects != 1 {
			t.Errorf("dashboard counts %d projects, expected 1", d.TotalProjects)
		}
	})
}

// readWithoutPanic runs read and reports a panic in it as a test error.
func readWithoutPanic(t *testing.T, name string, read func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", name, r)
		}
	}()
	read()
}
