package readmodel_test

import (
	"testing"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/readmodel"
)

// diffScenario stores a project with one change of every kind and returns
// its id and the version right before the changes that tests diff.
func diffScenario(t *testing.T) (*scenario, string, int) {
	t.Helper()
	s := newScenario(t, nil)
	id := s.start(hours(0), hostedStart("acme"))
	s.do(id, hours(1),
		domain.AddContact{ContactID: "c-anna", Name: "Anna Lind", Email: "anna@example.se", Role: "Owner"},
		domain.SubmitAnswer{QuestionID: "platform-login", Value: "admin / password-1234"},
		domain.SubmitAnswer{QuestionID: "stock-master", Value: "shopify-store"},
	)
	from := s.aggregate(id).Version()

	s.do(id, hours(2), domain.SubmitAnswer{QuestionID: "stock-master", Value: "fortnox"})
	s.do(id, hours(3), domain.SubmitAnswer{QuestionID: "platform-login", Value: "admin / password-5678"})
	s.do(id, hours(4), domain.MarkWaitingOnCustomer{Reason: "API key missing"})
	s.do(id, hours(5), domain.ResumeWork{})
	s.do(id, hours(6),
		domain.AddContact{ContactID: "c-erik", Name: "Erik Berg", Email: "erik@example.se"},
		domain.RemoveContact{ContactID: "c-anna"},
	)
	s.answerStep(id, hours(7), "product-data")
	s.do(id, hours(8), domain.CompleteStep{StepID: "product-data"})
	s.do(id, hours(9), domain.ReopenStep{StepID: "product-data", Reason: "SKUs are not unique after all"})
	// The test run is stored directly, without the rule that earlier phases
	// come first, because a diff only reads the events.
	run := &domain.TestResultRecorded{StepID: "order-testing", TestID: "joint-test-run", Passed: false, Notes: "VAT on the wrong account"}
	s.appendEvents(id, s.aggregate(id).Version(), hours(10), run)
	s.aggregate(id).Apply(run)
	s.do(id, hours(11), domain.LogTime{Hours: 1.5, Description: "Workshop", StepID: "flows"})
	s.do(id, hours(12), domain.CancelProject{Reason: "Customer withdrew"})
	return s, id, from
}

func TestDiffProjectChanges(t *testing.T) {
	s, id, from := diffScenario(t)
	events := s.readStream(id, 0)
	d, err := readmodel.DiffProject(events, from, len(events))
	if err != nil {
		t.Fatalf("DiffProject(%d, %d) failed: %v", from, len(events), err)
	}
	if d.FromVersion != from || d.ToVersion != len(events) || d.ProjectID != id {
		t.Errorf("diff covers %s from %d to %d, want %s from %d to %d", d.ProjectID, d.FromVersion, d.ToVersion, id, from, len(events))
	}

	answers := map[string]readmodel.AnswerChange{}
	for _, a := range d.Answers {
		answers[a.Key.String()] = a
	}
	if len(d.Answers) != 5 {
		t.Errorf("answer changes = %d, want 5: stock-master, platform-login and three product-data confirmations", len(d.Answers))
	}
	stock := answers["stock-master"]
	if !stock.HadOldValue || stock.OldValue != "shopify-store" || stock.NewValue != "fortnox" {
		t.Errorf("stock-master change = %q to %q (had old %v), want shopify-store to fortnox", stock.OldValue, stock.NewValue, stock.HadOldValue)
	}
	if stock.Event.Revision != uint64(from) || stock.Event.Metadata.Actor.UserID != actorID || !readmodel.OccurredAt(stock.Event).Equal(hours(2)) {
		t.Errorf("stock-master event at revision %d by %s at %s, want revision %d by %s at %s",
			stock.Event.Revision, stock.Event.Metadata.Actor.UserID, readmodel.OccurredAt(stock.Event), from, actorID, hours(2))
	}
	login := answers["platform-login"]
	if login.OldValue != "••••1234" || login.NewValue != "••••5678" {
		t.Errorf("platform-login change = %q to %q, want both masked", login.OldValue, login.NewValue)
	}
	if sku := answers["unique-sku"]; sku.HadOldValue || sku.NewValue != "true" {
		t.Errorf("unique-sku change = %+v, want a first answer true", sku)
	}

	if len(d.StepsCompleted) != 1 || d.StepsCompleted[0].StepID != "product-data" || d.StepsCompleted[0].Reason != "" {
		t.Errorf("steps completed = %+v, want product-data", d.StepsCompleted)
	}
	if len(d.StepsReopened) != 1 || d.StepsReopened[0].Reason != "SKUs are not unique after all" {
		t.Errorf("steps reopened = %+v, want product-data with its reason", d.StepsReopened)
	}
	if len(d.TestsRun) != 1 || d.TestsRun[0].TestID != "joint-test-run" || d.TestsRun[0].Passed || d.TestsRun[0].Notes != "VAT on the wrong account" {
		t.Errorf("tests run = %+v, want one failed joint-test-run", d.TestsRun)
	}
	if len(d.TimeLogged) != 1 || d.TimeLogged[0].Hours != 1.5 || d.TimeLogged[0].StepID != "flows" {
		t.Errorf("time logged = %+v, want 1.5 hours on flows", d.TimeLogged)
	}
	if len(d.ContactsAdded) != 1 || d.ContactsAdded[0].Contact.Name != "Erik Berg" {
		t.Errorf("contacts added = %+v, want Erik Berg", d.ContactsAdded)
	}
	removed := d.ContactsRemoved
	if len(removed) != 1 || removed[0].Contact.Name != "Anna Lind" || removed[0].Contact.Role != "Owner" || !removed[0].Contact.AddedAt.Equal(hours(1)) {
		t.Errorf("contacts removed = %+v, want Anna Lind as she was added", removed)
	}
	if len(d.WaitingMarked) != 1 || d.WaitingMarked[0].Reason != "API key missing" {
		t.Errorf("waiting marked = %+v, want the API key wait", d.WaitingMarked)
	}
	if len(d.WorkResumed) != 1 || d.WorkResumed[0].Reason != "API key missing" {
		t.Errorf("work resumed = %+v, want the end of the API key wait", d.WorkResumed)
	}
	status := d.StatusChanges
	if len(status) != 1 || status[0].From != domain.StatusActive || status[0].To != domain.StatusCancelled || status[0].Reason != "Customer withdrew" {
		t.Errorf("status changes = %+v, want active to cancelled with the reason", status)
	}
}

func TestDiffProjectNarrowRange(t *testing.T) {
	s, id, from := diffScenario(t)
	events := s.readStream(id, 0)

	same, err := readmodel.DiffProject(events, from, from)
	if err != nil {
		t.Fatalf("DiffProject(%d, %d) failed: %v", from, from, err)
	}
	if n := len(same.Answers) + len(same.StepsCompleted) + len(same.ContactsAdded) + len(same.StatusChanges); n != 0 {
		t.Errorf("diff of a version with itself has %d changes, want none", n)
	}

	// From version 1, the first answers have no old value.
	d, err := readmodel.DiffProject(events, 1, from)
	if err != nil {
		t.Fatalf("DiffProject(1, %d) failed: %v", from, err)
	}
	if len(d.Answers) != 2 || d.Answers[1].HadOldValue || d.Answers[1].NewValue != "shopify-store" {
		t.Errorf("answers up to version %d = %+v, want first answers to platform-login and stock-master", from, d.Answers)
	}
	if len(d.ContactsAdded) != 1 || d.ContactsAdded[0].Contact.ID != "c-anna" {
		t.Errorf("contacts added up to version %d = %+v, want Anna", from, d.ContactsAdded)
	}
}

func TestDiffProjectRejectsRange(t *testing.T) {
	s, id, from := diffScenario(t)
	events := s.readStream(id, 0)
	for _, r := range [][2]int{{0, from}, {from, from - 1}, {from, len(events) + 1}} {
		if _, err := readmodel.DiffProject(events, r[0], r[1]); err == nil {
			t.Errorf("DiffProject(%d, %d) of %d events succeeded, want an error", r[0], r[1], len(events))
		}
	}
	if _, err := readmodel.DiffProject([]eventstore.Envelope{}, 1, 1); err == nil {
		t.Error("DiffProject of no events succeeded, want an error")
	}
}
