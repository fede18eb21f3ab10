package domain_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

// typedAnswer returns an answer to the asked question as a person might type
// it, and the canonical value that AnswerSubmitted must store for it.
func typedAnswer(p *domain.Project, a domain.Asked) (typed, canonical string) {
	switch a.Question.Kind {
	case domain.KindBoolean:
		return "Ja", "true"
	case domain.KindConfirmation:
		return "yes", "true"
	case domain.KindChoice:
		id := a.Question.Options[0].ID
		return strings.ToLower(id), id
	case domain.KindSystem:
		first := p.Systems()[0]
		return strings.ToUpper(first.Name), first.ID
	case domain.KindNumber:
		return "3001.0", "3001"
	default:
		value := "value of " + a.Key().String()
		return "  " + value + " ", value
	}
}

// onboard runs a whole project through commands. It starts the project,
// answers every question of each applicable step, runs the step's tests and
// completes the step, in template order, and then completes the project. It
// returns the project and the ids of the steps that did not apply.
func onboard(t *testing.T, start domain.StartProject) (*domain.Project, []string) {
	t.Helper()
	p := domain.NewProject(start.ProjectID)
	applied := 0
	exec := func(cmd domain.Command) []domain.Event {
		t.Helper()
		events := run(t, p, cmd)
		applied += len(events)
		return events
	}

	exec(start)
	exec(domain.LogTime{Hours: 1.5, Description: "kickoff call", StepID: "collect-information"})
	exec(domain.MarkWaitingOnCustomer{Reason: "questionnaire not returned"})
	exec(domain.AddContact{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se", Phone: "+46 70-123 45 67", Role: "CFO"})

	var skipped []string
	for _, phase := range p.Template().Phases {
		for _, step := range phase.Steps {
			if !p.Applicable(step) {
				skipped = append(skipped, step.ID)
				continue
			}
			answerStep(t, p, step, exec)
			if step.ID == "collect-information" {
				exec(domain.ResumeWork{})
			}
			testStep(t, p, step, exec)

			events := exec(domain.CompleteStep{StepID: step.ID})
			thenEvents(t, events, nil, &domain.StepCompleted{StepID: step.ID})
		}
		if current := p.CurrentPhase(); current != nil && current.Number <= phase.Number {
			t.Fatalf("after completing phase %q the current phase is %q", phase.ID, current.ID)
		}
	}

	events := exec(domain.CompleteProject{})
	thenEvents(t, events, nil, &domain.ProjectCompleted{})

	if p.Version() != applied {
		t.Errorf("Version() = %d, expected %d applied events", p.Version(), applied)
	}
	return p, skipped
}

// answerStep submits a typed answer to every question asked in the step and
// checks that each is stored in canonical form.
func answerStep(t *testing.T, p *domain.Project, step *domain.Step, exec func(domain.Command) []domain.Event) {
	t.Helper()
	for _, a := range p.AskedQuestions(step) {
		typed, canonical := typedAnswer(p, a)
		key := a.Key()

		events := exec(domain.SubmitAnswer{QuestionID: key.QuestionID, SystemID: key.SystemID, Value: typed})

		thenEvents(t, events, nil, &domain.AnswerSubmitted{QuestionID: key.QuestionID, SystemID: key.SystemID, Value: canonical, Secret: a.Question.Kind == domain.KindSecret})
	}
}

// testStep records a passed run of every test of the step. The joint test
// run fails first, and CompleteStep must then reject the step.
func testStep(t *testing.T, p *domain.Project, step *domain.Step, exec func(domain.Command) []domain.Event) {
	t.Helper()
	for _, test := range step.Tests {
		if test.ID == "joint-test-run" {
			exec(domain.RecordTestResult{StepID: step.ID, TestID: test.ID, Passed: false, Notes: "order lacks shipping address"})

			events, err := when(t, p, domain.CompleteStep{StepID: step.ID})

			de := thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepIncomplete)
			if !slices.Contains(de.Missing, "test:joint-test-run") {
				t.Errorf("missing = %q after a failed joint test run, expected test:joint-test-run", de.Missing)
			}
		}
		exec(domain.RecordTestResult{StepID: step.ID, TestID: test.ID, Passed: true})
	}
}

func TestHappyPathSettlementProject(t *testing.T) {
	p, skipped := onboard(t, validStart())

	if len(skipped) != 0 {
		t.Errorf("skipped steps %q, expected every step to apply", skipped)
	}
	if p.Status() != domain.StatusCompleted {
		t.Errorf("Status() = %s, expected %s", p.Status(), domain.StatusCompleted)
	}
	for _, s := range p.Template().Steps() {
		if !p.StepCompleted(s.ID) {
			t.Errorf("step %q is not completed", s.ID)
		}
	}
	if p.CurrentPhase() != nil {
		t.Errorf("CurrentPhase() = %q, expected nil", p.CurrentPhase().ID)
	}
	if !p.TestPassed("order-testing", "joint-test-run") {
		t.Error("TestPassed(joint-test-run) = false, but the latest run passed")
	}
	if !p.TestPassed("settlement-testing", "settlement-test-run") {
		t.Error("TestPassed(settlement-test-run) = false")
	}
	if p.LoggedHours() != 1.5 {
		t.Errorf("LoggedHours() = %v, expected 1.5", p.LoggedHours())
	}
	if waiting, _ := p.Waiting(); waiting {
		t.Error("completed project is waiting on the customer")
	}

	answered, required, missing := p.Questionnaire()
	if answered != required || len(missing) != 0 {
		t.Errorf("Questionnaire() = %d of %d answered, missing %q; expected every answer", answered, required, missing)
	}

	wantAnswers := map[domain.AnswerKey]string{
		{QuestionID: "platform-login"}:                                "value of platform-login",
		{QuestionID: "api-credentials", SystemID: "woocommerce-shop"}: "value of api-credentials@woocommerce-shop",
		{QuestionID: "api-credentials", SystemID: "postnord"}:         "value of api-credentials@postnord",
		{QuestionID: "plugin-installed"}:                              "true",
		{QuestionID: "product-master"}:                                "woocommerce-shop",
		{QuestionID: "sync-stock"}:                                    "true",
		{QuestionID: "order-document"}:                                "ORDER",
		{QuestionID: "invoice-handling"}:                              "BOOK_AUTOMATICALLY",
		{QuestionID: "sales-account"}:                                 "3001",
		{QuestionID: "requirements-met", SystemID: "fortnox"}:         "true",
		{QuestionID: "payment-api-key", SystemID: "klarna"}:           "value of payment-api-key@klarna",
		{QuestionID: "payment-files-received", SystemID: "klarna"}:    "true",
		{QuestionID: "recording-account"}:                             "3001",
		{QuestionID: "handed-over"}:                                   "true",
	}
	for key, want := range wantAnswers {
		if got, ok := p.Answer(key); !ok || got != want {
			t.Errorf("Answer(%s) = %q, %t, expected %q", key, got, ok, want)
		}
	}
	for _, key := range []domain.AnswerKey{
		{QuestionID: "payment-api-key", SystemID: "fortnox"},
		{QuestionID: "payment-api-key", SystemID: "woocommerce-shop"},
		{QuestionID: "api-credentials"},
	} {
		if got, ok := p.Answer(key); ok {
			t.Errorf("Answer(%s) = %q, but that question is not asked", key, got)
		}
	}

	events, err := when(t, p, domain.LogTime{Hours: 0.5, Description: "follow-up after handover"})
	thenEvents(t, events, err, &domain.TimeLogged{Minutes: 30, Description: "follow-up after handover"})
}

func TestHappyPathHostedShopProject(t *testing.T) {
	start := validStart()
	start.Systems = []domain.SystemInput{{Name: "Shopify store", Platform: "SHOPIFY"}, {Name: "Fortnox", Platform: "FORTNOX"}}
	start.UsesSettlement = false

	p, skipped := onboard(t, start)

	want := []string{"install-plugin", "settlement-accounting", "settlement-data", "settlement-testing"}
	if !slices.Equal(skipped, want) {
		t.Errorf("skipped steps = %q, expected %q", skipped, want)
	}
	if p.Status() != domain.StatusCompleted {
		t.Errorf("Status() = %s, expected %s", p.Status(), domain.StatusCompleted)
	}
	if got, _ := p.Answer(domain.AnswerKey{QuestionID: "product-master"}); got != "shopify-store" {
		t.Errorf("Answer(product-master) = %q, expected %q", got, "shopify-store")
	}
}
