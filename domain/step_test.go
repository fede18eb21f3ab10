package domain_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

// phaseOneSteps are the steps of the preparation phase that apply to a
// settlement project with an open-source shop.
var phaseOneSteps = []string{
	"collect-information", "install-plugin", "product-data", "flows",
	"order-status-invoices", "settlement-accounting", "system-requirements",
}

// withReady applies to p the events that make each step ready to complete,
// and returns p.
func withReady(t *testing.T, p *domain.Project, stepIDs ...string) *domain.Project {
	t.Helper()
	for _, id := range stepIDs {
		for _, e := range readyEvents(p, mustStep(t, id)) {
			p.Apply(e)
		}
	}
	return p
}

func TestCompleteStepReportsMissingAnswers(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.CompleteStep{StepID: "collect-information"})

	de := thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepIncomplete)
	thenMissing(t, de,
		"contact",
		"answer:platform-login",
		"answer:api-credentials@woocommerce-shop",
		"answer:api-credentials@fortnox",
		"answer:api-credentials@klarna",
		"answer:api-credentials@postnord",
		"answer:api-endpoint@woocommerce-shop",
		"answer:api-endpoint@fortnox",
		"answer:api-endpoint@klarna",
		"answer:api-endpoint@postnord",
		"confirmation:questionnaire-returned",
	)
	if !strings.Contains(err.Error(), "missing: contact, answer:platform-login") {
		t.Errorf("Error() = %q, expected it to list the missing items", err.Error())
	}
}

func TestCompleteStepConfirmationFalseMissing(t *testing.T) {
	p := given(settlementStart(),
		&domain.AnswerSubmitted{QuestionID: "unique-sku", Value: "false"},
		&domain.AnswerSubmitted{QuestionID: "prices-state-vat", Value: "true"},
	)

	events, err := when(t, p, domain.CompleteStep{StepID: "product-data"})

	de := thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepIncomplete)
	thenMissing(t, de, "confirmation:unique-sku", "confirmation:valid-product-names")
}

func TestCompleteStepPerSystemConfirmationMissing(t *testing.T) {
	p := given(settlementStart(),
		&domain.AnswerSubmitted{QuestionID: "requirements-met", SystemID: "woocommerce-shop", Value: "true"},
		&domain.AnswerSubmitted{QuestionID: "requirements-met", SystemID: "fortnox", Value: "true"},
		&domain.AnswerSubmitted{QuestionID: "requirements-met", SystemID: "klarna", Value: "false"},
	)

	events, err := when(t, p, domain.CompleteStep{StepID: "system-requirements"})

	de := thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepIncomplete)
	thenMissing(t, de, "confirmation:requirements-met@klarna", "confirmation:requirements-met@postnord")
}

func TestCompleteStepBooleanFalseCountsAnswered(t *testing.T) {
	p := withReady(t, given(settlementStart()), "flows")
	p.Apply(&domain.AnswerSubmitted{QuestionID: "sync-stock", Value: "false"})

	events, err := when(t, p, domain.CompleteStep{StepID: "flows"})

	thenEvents(t, events, err, &domain.StepCompleted{StepID: "flows"})
}

func TestCompleteStepReportsMissingContact(t *testing.T) {
	p := withReady(t, given(settlementStart()), "collect-information")
	p.Apply(&domain.ContactRemoved{ContactID: "c-ready"})

	events, err := when(t, p, domain.CompleteStep{StepID: "collect-information"})

	de := thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepIncomplete)
	thenMissing(t, de, "contact")
}

func TestCompleteStepReportsMissingTests(t *testing.T) {
	p := givenCompletedBefore(settlementStart(), "product-sync")
	p.Apply(&domain.TestResultRecorded{StepID: "order-testing", TestID: "joint-test-run", Passed: false})

	events, err := when(t, p, domain.CompleteStep{StepID: "order-testing"})

	de := thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepIncomplete)
	thenMissing(t, de, "test:joint-test-run", "test:test-purchase")
}

func TestCompleteStepReportsAllMissingKinds(t *testing.T) {
	p := givenCompletedBefore(settlementStart(), "settlement-data")
	p.Apply(&domain.AnswerSubmitted{QuestionID: "bookkeeping-confirmed", Value: "false"})

	events, err := when(t, p, domain.CompleteStep{StepID: "settlement-testing"})

	de := thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepIncomplete)
	thenMissing(t, de, "confirmation:bookkeeping-confirmed", "test:settlement-test-run")
}

func TestCompleteStepWhenReady(t *testing.T) {
	for _, id := range phaseOneSteps {
		t.Run(id, func(t *testing.T) {
			p := withReady(t, given(settlementStart()), id)

			events, err := when(t, p, domain.CompleteStep{StepID: id})

			thenEvents(t, events, err, &domain.StepCompleted{StepID: id})
		})
	}
}

func TestCompleteStepOptionalQuestionNotNeeded(t *testing.T) {
	p := given(settlementStart())
	for _, sys := range p.Systems() {
		p.Apply(&domain.AnswerSubmitted{QuestionID: "requirements-met", SystemID: sys.ID, Value: "true"})
	}

	events, err := when(t, p, domain.CompleteStep{StepID: "system-requirements"})

	thenEvents(t, events, err, &domain.StepCompleted{StepID: "system-requirements"})
}

func TestCompleteStepAlreadyCompleted(t *testing.T) {
	p := withReady(t, given(settlementStart()), "product-data")
	p.Apply(&domain.StepCompleted{StepID: "product-data"})

	events, err := when(t, p, domain.CompleteStep{StepID: "product-data"})

	thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepCompleted)
}

func TestCompleteStepUnknownStep(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.CompleteStep{StepID: "go-live"})

	de := thenError(t, events, err, domain.KindNotFound, "")
	if de.Field != "stepId" {
		t.Errorf("error field = %q, expected %q", de.Field, "stepId")
	}
}

func TestCompleteStepAppliedToState(t *testing.T) {
	p := given(settlementStart(), &domain.StepCompleted{StepID: "product-data"})

	if !p.StepCompleted("product-data") {
		t.Error("StepCompleted(product-data) = false after StepCompleted")
	}
	if p.StepCompleted("flows") {
		t.Error("StepCompleted(flows) = true, but only product-data was completed")
	}
}

func TestPhaseOrderNamesOpenSteps(t *testing.T) {
	tests := []struct {
		name  string
		start *domain.ProjectStarted
		open  []string
	}{
		{"settlement project", settlementStart(), phaseOneSteps},
		{"hosted shop project", hostedStart(), []string{"collect-information", "product-data", "flows", "order-status-invoices", "system-requirements"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := withReady(t, given(tt.start), "product-sync")

			events, err := when(t, p, domain.CompleteStep{StepID: "product-sync"})

			de := thenError(t, events, err, domain.KindRuleViolation, domain.RulePhaseOrder)
			thenMissing(t, de, stepIDs(tt.open...)...)
		})
	}
}

func TestPhaseOrderOnlyOpenSteps(t *testing.T) {
	p := givenCompletedBefore(settlementStart(), "system-requirements")
	p = withReady(t, p, "product-sync")

	events, err := when(t, p, domain.CompleteStep{StepID: "product-sync"})

	de := thenError(t, events, err, domain.KindRuleViolation, domain.RulePhaseOrder)
	thenMissing(t, de, stepIDs("system-requirements")...)
}

func TestPhaseOrderCheckedBeforeAnswers(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.CompleteStep{StepID: "handover"})

	de := thenError(t, events, err, domain.KindRuleViolation, domain.RulePhaseOrder)
	if !slices.Contains(de.Missing, "step:troubleshooting-review") {
		t.Errorf("missing = %q, expected it to name step:troubleshooting-review", de.Missing)
	}
}

func TestPhaseOrderIncludesSettlementPhase(t *testing.T) {
	p := givenCompletedBefore(settlementStart(), "settlement-data")
	p = withReady(t, p, "troubleshooting-review")

	events, err := when(t, p, domain.CompleteStep{StepID: "troubleshooting-review"})

	de := thenError(t, events, err, domain.KindRuleViolation, domain.RulePhaseOrder)
	thenMissing(t, de, stepIDs("settlement-data", "settlement-testing")...)
}

func TestPhaseOrderSkipsNonApplicablePhase(t *testing.T) {
	p := givenCompletedBefore(hostedStart(), "troubleshooting-review")
	p = withReady(t, p, "troubleshooting-review")

	events, err := when(t, p, domain.CompleteStep{StepID: "troubleshooting-review"})

	thenEvents(t, events, err, &domain.StepCompleted{StepID: "troubleshooting-review"})
}

func TestPhaseStepsCompleteInAnyOrder(t *testing.T) {
	p := givenCompletedBefore(settlementStart(), "product-sync")
	p = withReady(t, p, "order-testing")

	events, err := when(t, p, domain.CompleteStep{StepID: "order-testing"})

	thenEvents(t, events, err, &domain.StepCompleted{StepID: "order-testing"})
}

func TestSubmitAnswerCompletedStepRejected(t *testing.T) {
	tests := []struct {
		name  string
		value string
	}{
		{"changed answer", "false"},
		{"identical answer", "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := withReady(t, given(settlementStart()), "product-data")
			p.Apply(&domain.StepCompleted{StepID: "product-data"})

			events, err := when(t, p, domain.SubmitAnswer{QuestionID: "unique-sku", Value: tt.value})

			thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepCompleted)
		})
	}
}

func TestSubmitAnswerReopenedStepAccepted(t *testing.T) {
	p := withReady(t, given(settlementStart()), "product-data")
	p.Apply(&domain.StepCompleted{StepID: "product-data"})
	p.Apply(&domain.StepReopened{StepID: "product-data", Reason: "duplicate SKUs found"})

	events, err := when(t, p, domain.SubmitAnswer{QuestionID: "unique-sku", Value: "no"})

	thenEvents(t, events, err, &domain.AnswerSubmitted{QuestionID: "unique-sku", Value: "false"})
}

func TestReopenStepRecordsReason(t *testing.T) {
	p := given(settlementStart(), &domain.StepCompleted{StepID: "flows"})

	events, err := when(t, p, domain.ReopenStep{StepID: "flows", Reason: "  price master changed  "})

	thenEvents(t, events, err, &domain.StepReopened{StepID: "flows", Reason: "price master changed"})
	for _, e := range events {
		p.Apply(e)
	}
	if p.StepCompleted("flows") {
		t.Error("StepCompleted(flows) = true after StepReopened")
	}
}

func TestReopenStepRejectsInvalidReason(t *testing.T) {
	tests := []struct {
		name   string
		reason string
	}{
		{"empty reason", ""},
		{"blank reason", " \t "},
		{"too long reason", strings.Repeat("a", domain.MaxReasonLength+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := given(settlementStart(), &domain.StepCompleted{StepID: "flows"})

			events, err := when(t, p, domain.ReopenStep{StepID: "flows", Reason: tt.reason})

			thenInvalid(t, events, err, "reason")
		})
	}
}

func TestReopenStepNotCompleted(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.ReopenStep{StepID: "flows", Reason: "price master changed"})

	thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepNotCompleted)
}

func TestReopenStepUnknownStep(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, domain.ReopenStep{StepID: "go-live", Reason: "typo"})

	thenError(t, events, err, domain.KindNotFound, "")
}

func TestInstallPluginApplicability(t *testing.T) {
	tests := []struct {
		name      string
		platforms []domain.Platform
		want      bool
	}{
		{"WooCommerce", []domain.Platform{"WOOCOMMERCE"}, true},
		{"Magento", []domain.Platform{"MAGENTO"}, true},
		{"PrestaShop", []domain.Platform{"PRESTASHOP"}, true},
		{"Shopify only", []domain.Platform{"SHOPIFY"}, false},
		{"Shopify and Fortnox", []domain.Platform{"SHOPIFY", "FORTNOX"}, false},
		{"Shopify and Magento", []domain.Platform{"SHOPIFY", "MAGENTO"}, true},
		{"ERP and marketplace", []domain.Platform{"VISMA", "AMAZON"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var systems []domain.System
			for i, platform := range tt.platforms {
				systems = append(systems, domain.System{ID: "system-" + string(rune('a'+i)), Name: string(platform), Platform: platform})
			}
			p := given(started(false, systems...))

			if got := p.Applicable(mustStep(t, "install-plugin")); got != tt.want {
				t.Errorf("Applicable(install-plugin) = %t, expected %t", got, tt.want)
			}
			if got := p.PhaseApplicable(p.Template().Phases[0]); !got {
				t.Error("PhaseApplicable(preparation) = false, expected true")
			}
		})
	}
}

func TestSettlementApplicability(t *testing.T) {
	settlementSteps := map[string]bool{"settlement-accounting": true, "settlement-data": true, "settlement-testing": true}
	for _, usesSettlement := range []bool{true, false} {
		p := given(started(usesSettlement, wooShop, fortnox, klarna))
		for _, s := range p.Template().Steps() {
			want := true
			if settlementSteps[s.ID] {
				want = usesSettlement
			}
			if got := p.Applicable(s); got != want {
				t.Errorf("usesSettlement %t: Applicable(%s) = %t, expected %t", usesSettlement, s.ID, got, want)
			}
		}
		for _, ph := range p.Template().Phases {
			want := ph.ID != "settlement" || usesSettlement
			if got := p.PhaseApplicable(ph); got != want {
				t.Errorf("usesSettlement %t: PhaseApplicable(%s) = %t, expected %t", usesSettlement, ph.ID, got, want)
			}
		}
	}
}

func TestNonApplicableStepRejected(t *testing.T) {
	tests := []struct {
		name string
		cmd  domain.Command
	}{
		{"complete install-plugin", domain.CompleteStep{StepID: "install-plugin"}},
		{"complete settlement-accounting", domain.CompleteStep{StepID: "settlement-accounting"}},
		{"complete settlement-data", domain.CompleteStep{StepID: "settlement-data"}},
		{"complete settlement-testing", domain.CompleteStep{StepID: "settlement-testing"}},
		{"answer plugin-installed", domain.SubmitAnswer{QuestionID: "plugin-installed", Value: "yes"}},
		{"answer sales-account", domain.SubmitAnswer{QuestionID: "sales-account", Value: "3001"}},
		{"answer payment-api-key", domain.SubmitAnswer{QuestionID: "payment-api-key", SystemID: "fortnox", Value: "key"}},
		{"reopen settlement-data", domain.ReopenStep{StepID: "settlement-data", Reason: "files late"}},
		{"test settlement-test-run", domain.RecordTestResult{StepID: "settlement-testing", TestID: "settlement-test-run", Passed: true}},
		{"log time on install-plugin", domain.LogTime{Hours: 1, Description: "plugin", StepID: "install-plugin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := given(hostedStart())

			events, err := when(t, p, tt.cmd)

			thenError(t, events, err, domain.KindRuleViolation, domain.RuleStepNotApplicable)
		})
	}
}

func TestMissingForStepQuery(t *testing.T) {
	p := given(hostedStart(),
		&domain.AnswerSubmitted{QuestionID: "requirements-met", SystemID: "shopify-store", Value: "true"},
	)

	got := p.MissingForStep(mustStep(t, "system-requirements"))

	want := []string{"confirmation:requirements-met@fortnox"}
	if !slices.Equal(got, want) {
		t.Errorf("MissingForStep(system-requirements) = %q, expected %q", got, want)
	}
}

func TestAskedQuestionsPerSystem(t *testing.T) {
	p := given(settlementStart())

	tests := []struct {
		step string
		want []string
	}{
		{"collect-information", []string{
			"platform-login",
			"api-credentials@woocommerce-shop", "api-credentials@fortnox", "api-credentials@klarna", "api-credentials@postnord",
			"api-endpoint@woocommerce-shop", "api-endpoint@fortnox", "api-endpoint@klarna", "api-endpoint@postnord",
			"questionnaire-returned",
		}},
		{"settlement-data", []string{"payment-files-received@klarna", "payment-api-key@klarna", "recording-account"}},
		{"order-testing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			var got []string
			for _, a := range p.AskedQuestions(mustStep(t, tt.step)) {
				got = append(got, a.Key().String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("asked = %q\nexpected %q", got, tt.want)
			}
		})
	}
}

func TestCurrentPhaseFollowsProgress(t *testing.T) {
	tests := []struct {
		name string
		p    *domain.Project
		want string
	}{
		{"new project", given(settlementStart()), "preparation"},
		{"preparation done", givenCompletedBefore(settlementStart(), "product-sync"), "product-orders-logistics"},
		{"settlement open", givenCompletedBefore(settlementStart(), "settlement-testing"), "settlement"},
		{"settlement not used", givenCompletedBefore(hostedStart(), "troubleshooting-review"), "logs-reports"},
		{"handover open", givenCompletedBefore(settlementStart(), "handover"), "completion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ph := tt.p.CurrentPhase()
			if ph == nil {
				t.Fatalf("CurrentPhase() = nil, expected %q", tt.want)
			}
			if ph.ID != tt.want {
				t.Errorf("CurrentPhase() = %q, expected %q", ph.ID, tt.want)
			}
		})
	}

	done := givenCompletedBefore(settlementStart(), "")
	if ph := done.CurrentPhase(); ph != nil {
		t.Errorf("CurrentPhase() with every step completed = %q, expected nil", ph.ID)
	}
}

func TestQuestionnaireCountsRequiredAnswers(t *testing.T) {
	tests := []struct {
		name     string
		start    *domain.ProjectStarted
		required int
	}{
		// 10 in collect-information for four systems, 1 plugin, 3 product
		// data, 4 flows, 4 order status, 3 settlement accounts and one
		// requirements confirmation per system.
		{"settlement project", settlementStart(), 29},
		// 6 in collect-information for two systems, 3 product data, 4 flows,
		// 4 order status and one requirements confirmation per system.
		{"hosted shop project", hostedStart(), 19},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := given(tt.start)

			answered, required, missing := p.Questionnaire()

			if answered != 0 {
				t.Errorf("answered = %d, expected 0", answered)
			}
			if required != tt.required {
				t.Errorf("required = %d, expected %d", required, tt.required)
			}
			if len(missing) != tt.required {
				t.Errorf("missing has %d items, expected %d: %q", len(missing), tt.required, missing)
			}
		})
	}
}

func TestQuestionnaireConfirmationCountsOnlyYes(t *testing.T) {
	p := given(settlementStart(),
		&domain.AnswerSubmitted{QuestionID: "unique-sku", Value: "false"},
		&domain.AnswerSubmitted{QuestionID: "prices-state-vat", Value: "true"},
		&domain.AnswerSubmitted{QuestionID: "sync-stock", Value: "false"},
		&domain.AnswerSubmitted{QuestionID: "requirements-notes", SystemID: "fortnox", Value: "version 3"},
		&domain.AnswerSubmitted{QuestionID: "products-loaded", Value: "true"},
	)

	answered, required, missing := p.Questionnaire()

	if answered != 2 {
		t.Errorf("answered = %d, expected 2 (prices-state-vat and sync-stock)", answered)
	}
	if required != 29 {
		t.Errorf("required = %d, expected 29", required)
	}
	if !slices.Contains(missing, "unique-sku") {
		t.Errorf("missing = %q, expected it to contain unique-sku answered no", missing)
	}
	if slices.Contains(missing, "sync-stock") {
		t.Errorf("missing = %q, but sync-stock is answered", missing)
	}
}
