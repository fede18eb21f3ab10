package domain_test

import (
	"strings"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

// phaseTwoStarted returns a settlement project whose preparation phase is
// completed, so that order-testing may record tests.
func phaseTwoStarted() *domain.Project {
	return givenCompletedBefore(settlementStart(), "product-sync")
}

func TestRecordTestResultFailure(t *testing.T) {
	p := phaseTwoStarted()

	events, err := when(t, p, domain.RecordTestResult{StepID: "order-testing", TestID: "joint-test-run", Passed: false, Notes: "  order lacks shipping address  "})

	thenEvents(t, events, err, &domain.TestResultRecorded{StepID: "order-testing", TestID: "joint-test-run", Passed: false, Notes: "order lacks shipping address"})
}

func TestRecordTestResultPassAfterFailure(t *testing.T) {
	p := phaseTwoStarted()
	p.Apply(&domain.TestResultRecorded{StepID: "order-testing", TestID: "joint-test-run", Passed: false, Notes: "order lacks shipping address"})

	events, err := when(t, p, domain.RecordTestResult{StepID: "order-testing", TestID: "joint-test-run", Passed: true})

	thenEvents(t, events, err, &domain.TestResultRecorded{StepID: "order-testing", TestID: "joint-test-run", Passed: true})
	for _, e := range events {
		p.Apply(e)
	}
	if !p.TestPassed("order-testing", "joint-test-run") {
		t.Error("TestPassed(joint-test-run) = false after a passed run")
	}
}

func TestRecordTestResultLatestRunCounts(t *testing.T) {
	tests := []struct {
		name    string
		runs    []bool
		passed  bool
		missing []string
	}{
		{"failed then passed", []bool{false, true}, true, nil},
		{"passed then failed", []bool{true, false}, false, []string{"test:joint-test-run"}},
		{"failed twice", []bool{false, false}, false, []string{"test:joint-test-run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := phaseTwoStarted()
			p.Apply(&domain.TestResultRecorded{StepID: "order-testing", TestID: "test-purchase", Passed: true})
			for _, passed := range tt.runs {
				p.Apply(&domain.TestResultRecorded{StepID: "order-testing", TestID: "joint-test-run", Passed: passed})
			}

			if got := p.TestPassed("order-testing", "joint-test-run"); got != tt.passed {
				t.Errorf("TestPassed(joint-test-run) = %t, expected %t", got, tt.passed)
			}

			events, err := when(t, p, domain.CompleteStep{StepID: "order-testing"})

			if tt.missing == nil {
				thenEvents(t, events, err, &domain.StepCompleted{StepID: "order-testing"})
				return
			}
			de := thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepIncomplete)
			thenMissing(t, de, tt.missing...)
		})
	}
}

func TestRecordTestResultUnknownTest(t *testing.T) {
	tests := []struct {
		name   string
		stepID string
		testID string
		field  string
	}{
		{"unknown test id", "order-testing", "load-test", "testId"},
		{"test of another step", "order-testing", "settlement-test-run", "testId"},
		{"step without tests", "product-sync", "joint-test-run", "testId"},
		{"unknown step", "go-live", "joint-test-run", "stepId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := phaseTwoStarted()

			events, err := when(t, p, domain.RecordTestResult{StepID: tt.stepID, TestID: tt.testID, Passed: true})

			de := thenError(t, events, err, domain.KindNotFound, "")
			if de.Field != tt.field {
				t.Errorf("error field = %q, expected %q", de.Field, tt.field)
			}
		})
	}
}

func TestRecordTestResultCompletedStep(t *testing.T) {
	p := phaseTwoStarted()
	p = withReady(t, p, "order-testing")
	p.Apply(&domain.StepCompleted{StepID: "order-testing"})

	events, err := when(t, p, domain.RecordTestResult{StepID: "order-testing", TestID: "joint-test-run", Passed: false})

	thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepCompleted)
}

func TestRecordTestResultPhaseOrder(t *testing.T) {
	tests := []struct {
		name   string
		p      *domain.Project
		stepID string
		testID string
		open   []string
	}{
		{"order test on new project", given(settlementStart()), "order-testing", "joint-test-run", phaseOneSteps},
		{"order test with one step open", givenCompletedBefore(settlementStart(), "system-requirements"), "order-testing", "test-purchase", []string{"system-requirements"}},
		{"settlement test before orders", givenCompletedBefore(settlementStart(), "order-testing"), "settlement-testing", "settlement-test-run", []string{"order-testing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := when(t, tt.p, domain.RecordTestResult{StepID: tt.stepID, TestID: tt.testID, Passed: true})

			de := thenError(t, events, err, domain.KindRuleViolation, domain.RulePhaseOrder)
			thenMissing(t, de, stepIDs(tt.open...)...)
		})
	}
}

func TestRecordTestResultNotesTooLong(t *testing.T) {
	p := phaseTwoStarted()

	events, err := when(t, p, domain.RecordTestResult{StepID: "order-testing", TestID: "joint-test-run", Notes: strings.Repeat("a", domain.MaxReasonLength+1)})

	thenInvalid(t, events, err, "notes")
}

func TestReopenedStepNeedsNewTestRuns(t *testing.T) {
	p := phaseTwoStarted()
	p = withReady(t, p, "order-testing")
	p.Apply(&domain.StepCompleted{StepID: "order-testing"})
	p.Apply(&domain.StepReopened{StepID: "order-testing", Reason: "order totals differ"})

	events, err := when(t, p, domain.CompleteStep{StepID: "order-testing"})

	de := thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepIncomplete)
	thenMissing(t, de, "test:joint-test-run", "test:test-purchase")
}
