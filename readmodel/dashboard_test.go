package readmodel_test

import (
	"math"
	"slices"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/readmodel"
)

func TestDashboardEmpty(t *testing.T) {
	d := readmodel.NewModels().Dashboard()

	if d.TotalProjects != 0 || d.CompletedProjects != 0 {
		t.Errorf("total = %d, completed = %d, expected 0 and 0", d.TotalProjects, d.CompletedProjects)
	}
	for _, sc := range d.ByStatus {
		if sc.Count != 0 {
			t.Errorf("status %s: count = %d, expected 0", sc.Status, sc.Count)
		}
	}
	if len(d.ByPhase) != len(domain.CurrentTemplate().Phases) {
		t.Errorf("%d phase counts, expected one for each of the %d template phases", len(d.ByPhase), len(domain.CurrentTemplate().Phases))
	}
	if d.QuestionnaireCompletion != 0 {
		t.Errorf("questionnaire completion = %v without active projects, expected 0", d.QuestionnaireCompletion)
	}
	if d.AverageLeadTimeHours != nil {
		t.Errorf("average lead time = %v without completed projects, expected nil", *d.AverageLeadTimeHours)
	}
	if len(d.Waiting) != 0 {
		t.Errorf("waiting = %+v, expected none", d.Waiting)
	}
}

func TestDashboardSummary(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)

	waitingLate := s.start(hours(0), hostedStart("customer-1"))
	s.do(waitingLate, hours(1), domain.LogTime{Hours: 1.5, Description: "kickoff"})
	waitingEarly := s.start(hours(1), hostedStart("customer-2"))
	s.answerStep(waitingEarly, hours(2), "product-data")
	completedSlow := s.start(hours(2), hostedStart("customer-3"))
	s.do(completedSlow, hours(3), domain.LogTime{Hours: 2, Description: "configuration"})
	completedFast := s.start(hours(4), hostedStart("customer-4"))
	cancelled := s.start(hours(5), hostedStart("customer-5"))
	s.do(cancelled, hours(5), domain.LogTime{Hours: 0.5, Description: "kickoff"}, domain.MarkWaitingOnCustomer{Reason: "no reply"})
	configuring := s.start(hours(6), hostedStart("customer-6"))
	s.completePhase(configuring, hours(7), "preparation")

	s.do(waitingEarly, hours(8), domain.MarkWaitingOnCustomer{Reason: "questionnaire not returned"})
	s.do(waitingLate, hours(9), domain.MarkWaitingOnCustomer{Reason: "API keys missing"})
	s.do(cancelled, hours(10), domain.CancelProject{Reason: "customer changed ERP"})
	s.completeProject(completedFast, hours(34)) // 30 hours after its start
	s.completeProject(completedSlow, hours(52)) // 50 hours after its start

	d := models.Dashboard()

	if d.TotalProjects != 6 {
		t.Errorf("total projects = %d, expected 6", d.TotalProjects)
	}
	if d.CompletedProjects != 2 {
		t.Errorf("completed projects = %d, expected 2", d.CompletedProjects)
	}
	wantStatus := []readmodel.StatusCount{
		{Status: domain.StatusActive, Count: 3},
		{Status: domain.StatusCompleted, Count: 2},
		{Status: domain.StatusCancelled, Count: 1},
	}
	if !slices.Equal(d.ByStatus, wantStatus) {
		t.Errorf("by status = %+v\nexpected %+v", d.ByStatus, wantStatus)
	}
	wantPhase := map[string]int{"preparation": 2, "product-orders-logistics": 1, "settlement": 0, "logs-reports": 0, "completion": 0}
	for _, pc := range d.ByPhase {
		if pc.Count != wantPhase[pc.PhaseID] {
			t.Errorf("phase %s: count = %d, expected %d", pc.PhaseID, pc.Count, wantPhase[pc.PhaseID])
		}
		if pc.Title.EN == "" {
			t.Errorf("phase %s has no title", pc.PhaseID)
		}
	}
	if len(d.ByPhase) != len(wantPhase) {
		t.Errorf("%d phase counts, expected %d", len(d.ByPhase), len(wantPhase))
	}

	if len(d.Waiting) != 2 {
		t.Fatalf("waiting = %+v, expected two projects", d.Waiting)
	}
	waitingOrder := []struct {
		id     string
		reason string
		since  float64
	}{
		{waitingEarly, "questionnaire not returned", 8},
		{waitingLate, "API keys missing", 9},
	}
	for i, want := range waitingOrder {
		got := d.Waiting[i]
		if got.ProjectID != want.id {
			t.Errorf("waiting[%d] is project %s, expected %s (sorted by since)", i, got.ProjectID, want.id)
		}
		if !got.Since.Equal(hours(want.since)) {
			t.Errorf("waiting[%d] since %s, expected %s", i, got.Since, hours(want.since))
		}
		if got.Reason != want.reason {
			t.Errorf("waiting[%d] reason = %q, expected %q", i, got.Reason, want.reason)
		}
		if got.ProjectName == "" || got.CustomerName == "" {
			t.Errorf("waiting[%d] has project name %q and customer name %q, expected both", i, got.ProjectName, got.CustomerName)
		}
	}
	if missing := len(d.Waiting[0].MissingAnswers); missing != 16 {
		t.Errorf("waiting[0] misses %d answers, expected 16 of 19 after product-data", missing)
	}

	// Active projects: none of 19 answered, 3 of 19, and all of them.
	wantCompletion := (0.0 + 3.0/19 + 1) / 3
	if math.Abs(d.QuestionnaireCompletion-wantCompletion) > 1e-9 {
		t.Errorf("questionnaire completion = %v, expected %v", d.QuestionnaireCompletion, wantCompletion)
	}
	if d.EstimatedHours != 60 {
		t.Errorf("estimated hours = %v, expected 60", d.EstimatedHours)
	}
	if d.LoggedHours != 4 {
		t.Errorf("logged hours = %v, expected 4", d.LoggedHours)
	}
	if d.AverageLeadTimeHours == nil {
		t.Error("average lead time = nil with two completed projects, expected 40 hours")
	} else if math.Abs(*d.AverageLeadTimeHours-40) > 1e-9 {
		t.Errorf("average lead time = %v hours, expected 40", *d.AverageLeadTimeHours)
	}
	if !d.UpdatedAt.Equal(hours(52)) {
		t.Errorf("updatedAt = %s, expected the last event's time %s", d.UpdatedAt, hours(52))
	}
}
