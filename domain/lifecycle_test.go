package domain_test

import (
	"math"
	"strings"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

// completedProject returns a settlement project handed over to Support &
// Service.
func completedProject() *domain.Project {
	p := givenCompletedBefore(settlementStart(), "")
	p.Apply(&domain.ProjectCompleted{})
	return p
}

// cancelledProject returns a settlement project cancelled in preparation.
func cancelledProject() *domain.Project {
	return given(settlementStart(), &domain.ProjectCancelled{Reason: "customer withdrew"})
}

// everyCommand returns one valid instance of each command except
// StartProject, for checks that a closed project rejects them all.
func everyCommand() []domain.Command {
	return []domain.Command{
		domain.SubmitAnswer{QuestionID: "handover-notes", Value: "late note"},
		domain.AddContact{ContactID: "c9", Name: "Bo Berg", Email: "bo@example.se"},
		domain.RemoveContact{ContactID: "c-ready"},
		domain.CompleteStep{StepID: "handover"},
		domain.ReopenStep{StepID: "handover", Reason: "missed a question"},
		domain.RecordTestResult{StepID: "order-testing", TestID: "joint-test-run", Passed: true},
		domain.LogTime{Hours: 1, Description: "follow-up"},
		domain.MarkWaitingOnCustomer{Reason: "payment files"},
		domain.ResumeWork{},
		domain.CompleteProject{},
		domain.CancelProject{Reason: "duplicate project"},
	}
}

func TestLogTimeRecordsHours(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.LogTime{Hours: 1.5, Description: "  kickoff call  ", StepID: "collect-information"})

	thenEvents(t, events, err, &domain.TimeLogged{Minutes: 90, Description: "kickoff call", StepID: "collect-information"})
}

func TestLogTimeWithoutStep(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.LogTime{Hours: domain.MaxHoursPerLog, Description: "configuration"})

	thenEvents(t, events, err, &domain.TimeLogged{Minutes: domain.MaxHoursPerLog * 60, Description: "configuration"})
}

func TestLogTimeRejectsInvalidHours(t *testing.T) {
	tests := []struct {
		name  string
		hours float64
	}{
		{"zero hours", 0},
		{"negative hours", -1},
		{"more than a day", domain.MaxHoursPerLog + 0.5},
		{"NaN hours", math.NaN()},
		{"infinite hours", math.Inf(1)},
		{"negative infinite hours", math.Inf(-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := given(settlementStart())

			events, err := when(t, p, domain.LogTime{Hours: tt.hours, Description: "configuration"})

			thenInvalid(t, events, err, "hours")
		})
	}
}

func TestLogTimeRejectsInvalidDescription(t *testing.T) {
	tests := []struct {
		name        string
		description string
	}{
		{"empty description", ""},
		{"blank description", "   "},
		{"too long description", strings.Repeat("a", domain.MaxReasonLength+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := given(settlementStart())

			events, err := when(t, p, domain.LogTime{Hours: 1, Description: tt.description})

			thenInvalid(t, events, err, "description")
		})
	}
}

func TestLogTimeUnknownStep(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.LogTime{Hours: 1, Description: "configuration", StepID: "go-live"})

	thenError(t, events, err, domain.KindNotFound, "")
}

func TestLogTimeSumsHours(t *testing.T) {
	p := given(settlementStart(),
		&domain.TimeLogged{Minutes: 90, Description: "kickoff"},
		&domain.TimeLogged{Minutes: 135, Description: "configuration", StepID: "flows"},
	)

	if got := p.LoggedHours(); got != 3.75 {
		t.Errorf("LoggedHours() = %v, expected 3.75", got)
	}
}

func TestLogTimeOnCompletedProject(t *testing.T) {
	p := completedProject()

	events, err := when(t, p, domain.LogTime{Hours: 0.5, Description: "follow-up after handover", StepID: "handover"})

	thenEvents(t, events, err, &domain.TimeLogged{Minutes: 30, Description: "follow-up after handover", StepID: "handover"})
}

func TestLogTimeOnCancelledProject(t *testing.T) {
	p := cancelledProject()

	events, err := when(t, p, domain.LogTime{Hours: 0.5, Description: "wrap-up"})

	thenError(t, events, err, domain.KindRuleViolation, domain.RuleProjectClosed)
}

func TestMarkWaitingRecordsReason(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.MarkWaitingOnCustomer{Reason: "  questionnaire not returned  "})

	thenEvents(t, events, err, &domain.WaitingOnCustomerMarked{Reason: "questionnaire not returned"})
	for _, e := range events {
		p.Apply(e)
	}
	waiting, reason := p.Waiting()
	if !waiting || reason != "questionnaire not returned" {
		t.Errorf("Waiting() = %t, %q, expected true, %q", waiting, reason, "questionnaire not returned")
	}
}

func TestMarkWaitingRejectsEmptyReason(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.MarkWaitingOnCustomer{Reason: " "})

	thenInvalid(t, events, err, "reason")
}

func TestMarkWaitingTwiceRejected(t *testing.T) {
	p := given(settlementStart(), &domain.WaitingOnCustomerMarked{Reason: "questionnaire not returned"})

	events, err := when(t, p, domain.MarkWaitingOnCustomer{Reason: "payment files"})

	thenError(t, events, err, domain.KindRuleViolation, domain.RuleWaitingState)
}

func TestResumeWorkEndsWait(t *testing.T) {
	p := given(settlementStart(), &domain.WaitingOnCustomerMarked{Reason: "questionnaire not returned"})

	events, err := when(t, p, domain.ResumeWork{})

	thenEvents(t, events, err, &domain.WorkResumed{})
	for _, e := range events {
		p.Apply(e)
	}
	if waiting, reason := p.Waiting(); waiting || reason != "" {
		t.Errorf("Waiting() = %t, %q after WorkResumed, expected false, \"\"", waiting, reason)
	}
}

func TestResumeWorkNotWaiting(t *testing.T) {
	tests := []struct {
		name string
		p    *domain.Project
	}{
		{"never waited", given(settlementStart())},
		{"already resumed", given(settlementStart(), &domain.WaitingOnCustomerMarked{Reason: "questionnaire"}, &domain.WorkResumed{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := when(t, tt.p, domain.ResumeWork{})

			thenError(t, events, err, domain.KindRuleViolation, domain.RuleWaitingState)
		})
	}
}

func TestMarkWaitingAgainAfterResume(t *testing.T) {
	p := given(settlementStart(), &domain.WaitingOnCustomerMarked{Reason: "questionnaire"}, &domain.WorkResumed{})

	events, err := when(t, p, domain.MarkWaitingOnCustomer{Reason: "payment files"})

	thenEvents(t, events, err, &domain.WaitingOnCustomerMarked{Reason: "payment files"})
}

func TestWaitingAllowsAnswers(t *testing.T) {
	p := given(settlementStart(), &domain.WaitingOnCustomerMarked{Reason: "questionnaire"})

	events, err := when(t, p, domain.SubmitAnswer{QuestionID: "sync-stock", Value: "ja"})

	thenEvents(t, events, err, &domain.AnswerSubmitted{QuestionID: "sync-stock", Value: "true"})
}

func TestCompleteProjectWhileWaiting(t *testing.T) {
	p := givenCompletedBefore(settlementStart(), "")
	p.Apply(&domain.WaitingOnCustomerMarked{Reason: "signature on handover"})

	events, err := when(t, p, domain.CompleteProject{})

	thenError(t, events, err, domain.KindRuleViolation, domain.RuleWaitingState)
}

func TestCompleteProjectListsOpenSteps(t *testing.T) {
	tests := []struct {
		name string
		p    *domain.Project
		open []string
	}{
		{"new settlement project", given(settlementStart()), []string{
			"collect-information", "install-plugin", "product-data", "flows", "order-status-invoices",
			"settlement-accounting", "system-requirements", "product-sync", "order-flow", "logistics",
			"order-testing", "settlement-data", "settlement-testing", "troubleshooting-review", "handover",
		}},
		{"new hosted shop project", given(hostedStart()), []string{
			"collect-information", "product-data", "flows", "order-status-invoices", "system-requirements",
			"product-sync", "order-flow", "logistics", "order-testing", "troubleshooting-review", "handover",
		}},
		{"handover open", givenCompletedBefore(settlementStart(), "handover"), []string{"handover"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := when(t, tt.p, domain.CompleteProject{})

			de := thenError(t, events, err, domain.KindRuleViolation, domain.RuleProjectIncomplete)
			thenMissing(t, de, stepIDs(tt.open...)...)
		})
	}
}

func TestCompleteProjectReopenedStepOpen(t *testing.T) {
	p := givenCompletedBefore(settlementStart(), "")
	p.Apply(&domain.StepReopened{StepID: "flows", Reason: "price master changed"})

	events, err := when(t, p, domain.CompleteProject{})

	de := thenError(t, events, err, domain.KindRuleViolation, domain.RuleProjectIncomplete)
	thenMissing(t, de, stepIDs("flows")...)
}

func TestCompleteProjectSkipsNonApplicableSteps(t *testing.T) {
	p := givenCompletedBefore(hostedStart(), "")

	events, err := when(t, p, domain.CompleteProject{})

	thenEvents(t, events, err, &domain.ProjectCompleted{})
	for _, step := range []string{"install-plugin", "settlement-accounting", "settlement-data", "settlement-testing"} {
		if p.StepCompleted(step) {
			t.Errorf("step %q is completed, but it does not apply to the project", step)
		}
	}
}

func TestCompleteProjectSetsStatus(t *testing.T) {
	p := completedProject()

	if p.Status() != domain.StatusCompleted {
		t.Errorf("Status() = %s, expected %s", p.Status(), domain.StatusCompleted)
	}
}

func TestCompletedProjectRejectsChanges(t *testing.T) {
	for _, cmd := range everyCommand() {
		if _, isLogTime := cmd.(domain.LogTime); isLogTime {
			continue
		}
		t.Run(domain.CommandName(cmd), func(t *testing.T) {
			events, err := when(t, completedProject(), cmd)

			thenError(t, events, err, domain.KindRuleViolation, domain.RuleProjectClosed)
		})
	}
}

func TestCompletedProjectRejectsAnswer(t *testing.T) {
	p := completedProject()

	events, err := when(t, p, domain.SubmitAnswer{QuestionID: "sync-stock", Value: "no"})

	thenError(t, events, err, domain.KindRuleViolation, domain.RuleProjectClosed)
}

func TestCancelledProjectRejectsEverything(t *testing.T) {
	for _, cmd := range everyCommand() {
		t.Run(domain.CommandName(cmd), func(t *testing.T) {
			events, err := when(t, cancelledProject(), cmd)

			thenError(t, events, err, domain.KindRuleViolation, domain.RuleProjectClosed)
		})
	}

	t.Run("StartProject", func(t *testing.T) {
		events, err := when(t, cancelledProject(), validStart())

		thenError(t, events, err, domain.KindRuleViolation, domain.RuleProjectAlreadyExist)
	})
}

func TestCancelProjectRecordsReason(t *testing.T) {
	p := given(settlementStart(), &domain.WaitingOnCustomerMarked{Reason: "questionnaire"})

	events, err := when(t, p, domain.CancelProject{Reason: "  customer withdrew  "})

	thenEvents(t, events, err, &domain.ProjectCancelled{Reason: "customer withdrew"})
	for _, e := range events {
		p.Apply(e)
	}
	if p.Status() != domain.StatusCancelled {
		t.Errorf("Status() = %s, expected %s", p.Status(), domain.StatusCancelled)
	}
	if waiting, _ := p.Waiting(); waiting {
		t.Error("a cancelled project is still waiting on the customer")
	}
}

func TestCancelProjectNeedsReason(t *testing.T) {
	tests := []struct {
		name   string
		reason string
	}{
		{"empty reason", ""},
		{"blank reason", "  "},
		{"too long reason", strings.Repeat("a", domain.MaxReasonLength+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := given(settlementStart())

			events, err := when(t, p, domain.CancelProject{Reason: tt.reason})

			thenInvalid(t, events, err, "reason")
		})
	}
}
