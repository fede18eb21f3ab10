package domain_test

import (
	"slices"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

// catalogueStep and cataloguePhase describe the onboarding process as the
// customer-facing catalogue names it.
type catalogueStep struct {
	id    string
	title domain.Text
}

type cataloguePhase struct {
	id    string
	title domain.Text
	steps []catalogueStep
}

// processPhases lists the phases in order, each with its steps in order.
var processPhases = []cataloguePhase{
	{"preparation", domain.Text{EN: "Customer preparation", SV: "Kundförberedelser"}, []catalogueStep{
		{"collect-information", domain.Text{EN: "Collecting information", SV: "Insamling av information"}},
		{"install-plugin", domain.Text{EN: "Installing the plugin", SV: "Installation av plugin"}},
		{"product-data", domain.Text{EN: "Product data", SV: "Produktdata"}},
		{"flows", domain.Text{EN: "Deciding on flows", SV: "Beslut om flöden"}},
		{"order-status-invoices", domain.Text{EN: "Order status and customer invoices", SV: "Orderstatus och kundfakturor"}},
		{"settlement-accounting", domain.Text{EN: "Settlement accounting", SV: "Avräkningsbokföring"}},
		{"system-requirements", domain.Text{EN: "System requirements", SV: "Systemkrav"}},
	}},
	{"product-orders-logistics", domain.Text{EN: "Product data, orders and logistics", SV: "Produktdata, order och logistik"}, []catalogueStep{
		{"product-sync", domain.Text{EN: "Product data download", SV: "Hämtning av produktdata"}},
		{"order-flow", domain.Text{EN: "Order flow", SV: "Orderflöde"}},
		{"logistics", domain.Text{EN: "Logistics", SV: "Logistik"}},
		{"order-testing", domain.Text{EN: "Testing orders and invoices", SV: "Test av order och fakturor"}},
	}},
	{"settlement", domain.Text{EN: "Transaction data and settlement", SV: "Transaktionsdata och avräkning"}, []catalogueStep{
		{"settlement-data", domain.Text{EN: "Transaction data", SV: "Transaktionsdata"}},
		{"settlement-testing", domain.Text{EN: "Settlement testing", SV: "Test av avräkning"}},
	}},
	{"logs-reports", domain.Text{EN: "Log files and reports", SV: "Loggfiler och rapporter"}, []catalogueStep{
		{"troubleshooting-review", domain.Text{EN: "Troubleshooting review", SV: "Genomgång av felsökning"}},
	}},
	{"completion", domain.Text{EN: "Completion", SV: "Avslut"}, []catalogueStep{
		{"handover", domain.Text{EN: "Completion and handover to Support & Service", SV: "Överlämning till support"}},
	}},
}

func TestTemplatePhasesInOrder(t *testing.T) {
	tmpl := domain.CurrentTemplate()

	var got []string
	for _, ph := range tmpl.Phases {
		got = append(got, ph.ID)
	}
	var want []string
	for _, ph := range processPhases {
		want = append(want, ph.id)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("phases = %q, expected %q", got, want)
	}

	for i, wantPhase := range processPhases {
		ph := tmpl.Phases[i]
		if ph.Number != i+1 {
			t.Errorf("phase %q number = %d, expected %d", ph.ID, ph.Number, i+1)
		}
		if ph.Title != wantPhase.title {
			t.Errorf("phase %q title = %+v, expected %+v", ph.ID, ph.Title, wantPhase.title)
		}
	}
}

func TestTemplateStepsInOrder(t *testing.T) {
	tmpl := domain.CurrentTemplate()
	var allWant []string
	for i, wantPhase := range processPhases {
		ph := tmpl.Phases[i]
		var got, want []string
		for _, s := range ph.Steps {
			got = append(got, s.ID)
		}
		for _, s := range wantPhase.steps {
			want = append(want, s.id)
		}
		allWant = append(allWant, want...)
		if !slices.Equal(got, want) {
			t.Errorf("steps of phase %q = %q, expected %q", ph.ID, got, want)
			continue
		}

		for j, wantStep := range wantPhase.steps {
			s := ph.Steps[j]
			if s.Title != wantStep.title {
				t.Errorf("step %q title = %+v, expected %+v", s.ID, s.Title, wantStep.title)
			}
			if s.Phase != ph {
				t.Errorf("step %q links to phase %v, expected %q", s.ID, s.Phase, ph.ID)
			}
			found, ok := tmpl.Step(s.ID)
			if !ok || found != s {
				t.Errorf("Template.Step(%q) = %v, %t, expected the step of phase %q", s.ID, found, ok, ph.ID)
			}
		}
	}

	var all []string
	for _, s := range tmpl.Steps() {
		all = append(all, s.ID)
	}
	if !slices.Equal(all, allWant) {
		t.Errorf("Template.Steps() = %q, expected %q", all, allWant)
	}
	if _, ok := tmpl.Step("no-such-step"); ok {
		t.Error("Template.Step found an unknown step id")
	}
}

func TestTemplateTextsInBothLanguages(t *testing.T) {
	checkText := func(what string, text domain.Text) {
		t.Helper()
		if text.EN == "" {
			t.Errorf("%s has no English text", what)
		}
		if text.SV == "" {
			t.Errorf("%s has no Swedish text", what)
		}
	}

	for _, ph := range domain.CurrentTemplate().Phases {
		checkText("phase "+ph.ID+" title", ph.Title)
		for _, s := range ph.Steps {
			checkText("step "+s.ID+" title", s.Title)
			checkText("step "+s.ID+" description", s.Description)
			for _, q := range s.Questions {
				checkText("question "+q.ID, q.Text)
				if (q.Help.EN == "") != (q.Help.SV == "") {
					t.Errorf("question %q has help text in only one language: %+v", q.ID, q.Help)
				}
				for _, o := range q.Options {
					checkText("option "+o.ID+" of question "+q.ID, o.Label)
				}
			}
			for _, test := range s.Tests {
				checkText("test "+test.ID+" title", test.Title)
				checkText("test "+test.ID+" description", test.Description)
			}
		}
	}
}

func TestTemplateQuestionsLinkToSteps(t *testing.T) {
	tmpl := domain.CurrentTemplate()
	seen := map[string]string{}
	for _, s := range tmpl.Steps() {
		for _, q := range s.Questions {
			if other, dup := seen[q.ID]; dup {
				t.Errorf("question %q is in steps %q and %q", q.ID, other, s.ID)
			}
			seen[q.ID] = s.ID
			if q.Step != s {
				t.Errorf("question %q links to step %v, expected %q", q.ID, q.Step, s.ID)
			}
			found, ok := tmpl.Question(q.ID)
			if !ok || found != q {
				t.Errorf("Template.Question(%q) = %v, %t, expected the question of step %q", q.ID, found, ok, s.ID)
			}
		}
		for _, test := range s.Tests {
			if test.Step != s {
				t.Errorf("test %q links to step %v, expected %q", test.ID, test.Step, s.ID)
			}
			found, ok := s.Test(test.ID)
			if !ok || found != test {
				t.Errorf("Step(%q).Test(%q) = %v, %t", s.ID, test.ID, found, ok)
			}
		}
	}
	if _, ok := tmpl.Question("no-such-question"); ok {
		t.Error("Template.Question found an unknown question id")
	}
}

func TestTemplateChoiceQuestionsHaveOptions(t *testing.T) {
	choices := 0
	for _, s := range domain.CurrentTemplate().Steps() {
		for _, q := range s.Questions {
			if q.Kind != domain.KindChoice {
				if len(q.Options) != 0 {
					t.Errorf("%s question %q has options %v; only CHOICE questions use options", q.Kind, q.ID, q.Options)
				}
				continue
			}
			choices++
			if len(q.Options) < 2 {
				t.Errorf("CHOICE question %q has %d options, expected at least 2", q.ID, len(q.Options))
			}
			seen := map[string]bool{}
			for _, o := range q.Options {
				if o.ID == "" {
					t.Errorf("CHOICE question %q has an option with an empty id", q.ID)
				}
				if seen[o.ID] {
					t.Errorf("CHOICE question %q has option %q twice", q.ID, o.ID)
				}
				seen[o.ID] = true
			}
		}
	}
	if choices == 0 {
		t.Error("template has no CHOICE question")
	}
}

func TestTemplateOrderTestingTests(t *testing.T) {
	s := mustStep(t, "order-testing")
	var got []string
	for _, test := range s.Tests {
		got = append(got, test.ID)
	}
	want := []string{"joint-test-run", "test-purchase"}
	if !slices.Equal(got, want) {
		t.Errorf("tests of order-testing = %q, expected %q", got, want)
	}
	if _, ok := s.Test("settlement-test-run"); ok {
		t.Error("order-testing found the test of settlement-testing")
	}
}

func TestTemplateQuestionDefinitions(t *testing.T) {
	tests := []struct {
		question   string
		step       string
		kind       domain.QuestionKind
		required   bool
		perSystem  bool
		categories []domain.SystemCategory
	}{
		{"platform-login", "collect-information", domain.KindSecret, true, false, nil},
		{"api-credentials", "collect-information", domain.KindSecret, true, true, nil},
		{"api-endpoint", "collect-information", domain.KindText, true, true, nil},
		{"questionnaire-returned", "collect-information", domain.KindConfirmation, true, false, nil},
		{"plugin-installed", "install-plugin", domain.KindConfirmation, true, false, nil},
		{"unique-sku", "product-data", domain.KindConfirmation, true, false, nil},
		{"prices-state-vat", "product-data", domain.KindConfirmation, true, false, nil},
		{"valid-product-names", "product-data", domain.KindConfirmation, true, false, nil},
		{"product-master", "flows", domain.KindSystem, true, false, nil},
		{"price-master", "flows", domain.KindSystem, true, false, nil},
		{"stock-master", "flows", domain.KindSystem, true, false, nil},
		{"sync-stock", "flows", domain.KindBoolean, true, false, nil},
		{"collect-order-status", "order-status-invoices", domain.KindText, true, false, nil},
		{"order-document", "order-status-invoices", domain.KindChoice, true, false, nil},
		{"invoice-handling", "order-status-invoices", domain.KindChoice, true, false, nil},
		{"shipped-order-status", "order-status-invoices", domain.KindText, true, false, nil},
		{"sales-account", "settlement-accounting", domain.KindNumber, true, false, nil},
		{"fees-account", "settlement-accounting", domain.KindNumber, true, false, nil},
		{"payouts-account", "settlement-accounting", domain.KindNumber, true, false, nil},
		{"requirements-met", "system-requirements", domain.KindConfirmation, true, true, nil},
		{"requirements-notes", "system-requirements", domain.KindText, false, true, nil},
		{"payment-files-received", "settlement-data", domain.KindConfirmation, true, true, []domain.SystemCategory{domain.CategoryPayment}},
		{"payment-api-key", "settlement-data", domain.KindSecret, true, true, []domain.SystemCategory{domain.CategoryPayment}},
		{"recording-account", "settlement-data", domain.KindNumber, true, false, nil},
		{"bookkeeping-confirmed", "settlement-testing", domain.KindConfirmation, true, false, nil},
		{"information-sources-shown", "troubleshooting-review", domain.KindConfirmation, true, false, nil},
		{"log-handling-shown", "troubleshooting-review", domain.KindConfirmation, true, false, nil},
		{"user-admin-shown", "troubleshooting-review", domain.KindConfirmation, true, false, nil},
		{"handed-over", "handover", domain.KindConfirmation, true, false, nil},
		{"handover-notes", "handover", domain.KindText, false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.question, func(t *testing.T) {
			q, ok := domain.CurrentTemplate().Question(tt.question)
			if !ok {
				t.Fatalf("question %q is not in the template", tt.question)
			}
			if q.Step.ID != tt.step {
				t.Errorf("step = %q, expected %q", q.Step.ID, tt.step)
			}
			if q.Kind != tt.kind {
				t.Errorf("kind = %s, expected %s", q.Kind, tt.kind)
			}
			if q.Required != tt.required {
				t.Errorf("required = %t, expected %t", q.Required, tt.required)
			}
			if q.PerSystem != tt.perSystem {
				t.Errorf("per system = %t, expected %t", q.PerSystem, tt.perSystem)
			}
			if !slices.Equal(q.SystemCategories, tt.categories) {
				t.Errorf("system categories = %v, expected %v", q.SystemCategories, tt.categories)
			}
		})
	}
}

func TestTemplateCollectInformationNeedsContact(t *testing.T) {
	for _, s := range domain.CurrentTemplate().Steps() {
		want := s.ID == "collect-information"
		if s.RequiresContact != want {
			t.Errorf("step %q requires contact = %t, expected %t", s.ID, s.RequiresContact, want)
		}
	}
}

func TestTemplateApplicabilityValues(t *testing.T) {
	want := map[string]domain.Applicability{
		"install-plugin":        domain.WithOpenSourceShop,
		"settlement-accounting": domain.WithSettlement,
		"settlement-data":       domain.WithSettlement,
		"settlement-testing":    domain.WithSettlement,
	}
	for _, s := range domain.CurrentTemplate().Steps() {
		expected, ok := want[s.ID]
		if !ok {
			expected = domain.Always
		}
		if s.Applicability != expected {
			t.Errorf("step %q applicability = %s, expected %s", s.ID, s.Applicability, expected)
		}
	}
}

func TestLookupTemplateVersions(t *testing.T) {
	tmpl, err := domain.LookupTemplate(domain.CurrentTemplateVersion)
	if err != nil {
		t.Fatalf("LookupTemplate(%d): %v", domain.CurrentTemplateVersion, err)
	}
	if tmpl != domain.CurrentTemplate() {
		t.Error("LookupTemplate of the current version returned another template than CurrentTemplate")
	}
	if tmpl.Version != domain.CurrentTemplateVersion {
		t.Errorf("template version = %d, expected %d", tmpl.Version, domain.CurrentTemplateVersion)
	}

	_, err = domain.LookupTemplate(99)
	if domain.KindOf(err) != domain.KindNotFound {
		t.Errorf("LookupTemplate(99) error kind = %q, expected %q (error: %v)", domain.KindOf(err), domain.KindNotFound, err)
	}
}

func TestTextInLocale(t *testing.T) {
	text := domain.Text{EN: "Logistics", SV: "Logistik"}
	tests := []struct {
		locale string
		want   string
	}{
		{"en", "Logistics"},
		{"sv", "Logistik"},
		{"de", "Logistics"},
		{"", "Logistics"},
	}
	for _, tt := range tests {
		if got := text.In(tt.locale); got != tt.want {
			t.Errorf("In(%q) = %q, expected %q", tt.locale, got, tt.want)
		}
	}

	englishOnly := domain.Text{EN: "Logistics"}
	if got := englishOnly.In("sv"); got != "Logistics" {
		t.Errorf("In(\"sv\") without a Swedish text = %q, expected the English text", got)
	}
}
