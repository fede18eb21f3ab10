package domain_test

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

// validStart returns a StartProject command that succeeds on a new project.
func validStart() domain.StartProject {
	return domain.StartProject{
		ProjectID:    projectID,
		CustomerID:   " customer-1 ",
		CustomerName: " Acme AB ",
		Name:         " Acme onboarding ",
		Systems: []domain.SystemInput{
			{Name: " WooCommerce shop ", Platform: "WOOCOMMERCE"},
			{Name: "Fortnox", Platform: "FORTNOX"},
			{Name: "Klarna", Platform: "KLARNA"},
			{Name: "PostNord", Platform: "POSTNORD"},
		},
		UsesSettlement: true,
		EstimatedHours: 12,
	}
}

func TestStartProjectRecordsStart(t *testing.T) {
	p := given()

	events, err := when(t, p, validStart())

	thenEvents(t, events, err, settlementStart())
}

func TestStartProjectRecordsTemplateVersion(t *testing.T) {
	events, err := when(t, given(), validStart())

	start := onlyStarted(t, events, err)
	if start.TemplateVersion != domain.CurrentTemplateVersion {
		t.Errorf("template version = %d, expected %d", start.TemplateVersion, domain.CurrentTemplateVersion)
	}
}

func TestStartProjectSetsState(t *testing.T) {
	p := given(settlementStart())

	if !p.Started() {
		t.Error("Started() = false after ProjectStarted")
	}
	if p.ID() != projectID {
		t.Errorf("ID() = %q, expected %q", p.ID(), projectID)
	}
	if p.Version() != 1 {
		t.Errorf("Version() = %d, expected 1", p.Version())
	}
	if p.Status() != domain.StatusActive {
		t.Errorf("Status() = %s, expected %s", p.Status(), domain.StatusActive)
	}
	if p.Template() != domain.CurrentTemplate() {
		t.Errorf("Template() is version %d, expected the current template", p.Template().Version)
	}
	if !reflect.DeepEqual(p.Info(), *settlementStart()) {
		t.Errorf("Info() = %+v, expected %+v", p.Info(), *settlementStart())
	}
	want := []domain.System{wooShop, fortnox, klarna, postnord}
	if !reflect.DeepEqual(p.Systems(), want) {
		t.Errorf("Systems() = %+v, expected %+v", p.Systems(), want)
	}
	if waiting, _ := p.Waiting(); waiting {
		t.Error("a new project is waiting on the customer")
	}
	if p.LoggedHours() != 0 {
		t.Errorf("LoggedHours() = %v, expected 0", p.LoggedHours())
	}
}

func TestStartProjectRejectsInvalidInput(t *testing.T) {
	tests := []struct {
		name   string
		change func(*domain.StartProject)
		field  string
	}{
		{"empty customer id", func(c *domain.StartProject) { c.CustomerID = "" }, "customerId"},
		{"blank customer id", func(c *domain.StartProject) { c.CustomerID = "  " }, "customerId"},
		{"empty customer name", func(c *domain.StartProject) { c.CustomerName = "" }, "customerName"},
		{"long customer name", func(c *domain.StartProject) { c.CustomerName = strings.Repeat("a", domain.MaxNameLength+1) }, "customerName"},
		{"invalid UTF-8 name", func(c *domain.StartProject) { c.Name = "Acme \xff" }, "name"},
		{"empty project name", func(c *domain.StartProject) { c.Name = "" }, "name"},
		{"no systems", func(c *domain.StartProject) { c.Systems = nil }, "systems"},
		{"too many systems", func(c *domain.StartProject) { c.Systems = manySystems(domain.MaxSystems + 1) }, "systems"},
		{"unknown platform", func(c *domain.StartProject) { c.Systems[1].Platform = "SAP" }, "systems.platform"},
		{"empty platform", func(c *domain.StartProject) { c.Systems[1].Platform = "" }, "systems.platform"},
		{"empty system name", func(c *domain.StartProject) { c.Systems[1].Name = " " }, "systems.name"},
		{"system name without letters", func(c *domain.StartProject) { c.Systems[1].Name = "!!!" }, "systems.name"},
		{"duplicate system names", func(c *domain.StartProject) { c.Systems[1].Name = "woocommerce SHOP" }, "systems.name"},
		{"system names with same slug", func(c *domain.StartProject) { c.Systems[1].Name = "WooCommerce-shop!" }, "systems.name"},
		{"negative estimate", func(c *domain.StartProject) { c.EstimatedHours = -1 }, "estimatedHours"},
		{"estimate too large", func(c *domain.StartProject) { c.EstimatedHours = domain.MaxEstimate + 1 }, "estimatedHours"},
		{"NaN estimate", func(c *domain.StartProject) { c.EstimatedHours = math.NaN() }, "estimatedHours"},
		{"infinite estimate", func(c *domain.StartProject) { c.EstimatedHours = math.Inf(1) }, "estimatedHours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := validStart()
			tt.change(&cmd)

			events, err := when(t, given(), cmd)

			thenInvalid(t, events, err, tt.field)
		})
	}
}

// onlyStarted checks that StartProject succeeded with one ProjectStarted
// event and returns it.
func onlyStarted(t *testing.T, events []domain.Event, err error) *domain.ProjectStarted {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if len(events) != 1 {
		t.Fatalf("events = %s, expected one ProjectStarted", describe(events))
	}
	start, ok := events[0].(*domain.ProjectStarted)
	if !ok {
		t.Fatalf("events = %s, expected a ProjectStarted", describe(events))
	}
	return start
}

func manySystems(n int) []domain.SystemInput {
	systems := make([]domain.SystemInput, n)
	for i := range systems {
		systems[i] = domain.SystemInput{Name: "System " + strings.Repeat("x", i+1), Platform: "OTHER"}
	}
	return systems
}

func TestStartProjectAcceptsLimits(t *testing.T) {
	tests := []struct {
		name   string
		change func(*domain.StartProject)
	}{
		{"zero estimate", func(c *domain.StartProject) { c.EstimatedHours = 0 }},
		{"maximum estimate", func(c *domain.StartProject) { c.EstimatedHours = domain.MaxEstimate }},
		{"maximum systems", func(c *domain.StartProject) {
			c.Systems = manySystems(domain.MaxSystems)
			c.UsesSettlement = false
		}},
		{"maximum name length", func(c *domain.StartProject) { c.Name = strings.Repeat("a", domain.MaxNameLength) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := validStart()
			tt.change(&cmd)

			events, err := when(t, given(), cmd)

			onlyStarted(t, events, err)
		})
	}
}

func TestStartProjectDerivesSystemIDs(t *testing.T) {
	cmd := validStart()
	cmd.UsesSettlement = false
	cmd.Systems = []domain.SystemInput{
		{Name: "Smörgås Butik", Platform: "SHOPIFY"},
		{Name: "Ekonomi (Fortnox)", Platform: "FORTNOX"},
	}

	events, err := when(t, given(), cmd)

	start := onlyStarted(t, events, err)
	want := []domain.System{
		{ID: "smorgas-butik", Name: "Smörgås Butik", Platform: "SHOPIFY"},
		{ID: "ekonomi-fortnox", Name: "Ekonomi (Fortnox)", Platform: "FORTNOX"},
	}
	if !reflect.DeepEqual(start.Systems, want) {
		t.Errorf("systems = %+v, expected %+v", start.Systems, want)
	}
}

func TestStartProjectTwiceRejected(t *testing.T) {
	p := given(settlementStart())

	events, err := when(t, p, validStart())

	thenError(t, events, err, domain.KindRuleViolation, domain.RuleProjectAlreadyExist)
}

func TestStartProjectKeepsPreviousProject(t *testing.T) {
	cmd := validStart()
	cmd.PreviousProjectID = "p-0"

	events, err := when(t, given(), cmd)

	want := settlementStart()
	want.PreviousProjectID = "p-0"
	thenEvents(t, events, err, want)

	p := given(events...)
	if p.Info().PreviousProjectID != "p-0" {
		t.Errorf("Info().PreviousProjectID = %q, expected %q", p.Info().PreviousProjectID, "p-0")
	}
}

// The stream of a project is named after the aggregate's id, so the
// ProjectStarted event must carry that id and no other.
func TestStartProjectKeepsAggregateID(t *testing.T) {
	tests := []struct {
		name             string
		commandProjectID string
	}{
		{"empty project id", ""},
		{"other project id", "p-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := validStart()
			cmd.ProjectID = tt.commandProjectID

			events, err := when(t, given(), cmd)

			if err != nil {
				thenInvalid(t, events, err, "projectId")
				return
			}
			got := onlyStarted(t, events, err).ProjectID
			if got != projectID {
				t.Errorf("ProjectStarted.ProjectID = %q on project %q; expected the aggregate's id or an invalid projectId error", got, projectID)
			}
		})
	}
}

func TestUnstartedProjectRejectsCommands(t *testing.T) {
	commands := []domain.Command{
		domain.SubmitAnswer{QuestionID: "platform-login", Value: "secret"},
		domain.AddContact{ContactID: "c1", Name: "Anna", Email: "anna@example.se"},
		domain.RemoveContact{ContactID: "c1"},
		domain.CompleteStep{StepID: "collect-information"},
		domain.ReopenStep{StepID: "collect-information", Reason: "typo"},
		domain.RecordTestResult{StepID: "order-testing", TestID: "joint-test-run", Passed: true},
		domain.LogTime{Hours: 1, Description: "kickoff"},
		domain.MarkWaitingOnCustomer{Reason: "questionnaire"},
		domain.ResumeWork{},
		domain.CompleteProject{},
		domain.CancelProject{Reason: "lost deal"},
	}
	for _, cmd := range commands {
		t.Run(domain.CommandName(cmd), func(t *testing.T) {
			events, err := when(t, given(), cmd)

			de := thenError(t, events, err, domain.KindNotFound, "")
			if de.Field != "projectId" {
				t.Errorf("error field = %q, expected %q", de.Field, "projectId")
			}
		})
	}
}

func TestStartSettlementNeedsPaymentProvider(t *testing.T) {
	cmd := validStart()
	cmd.UsesSettlement = true
	cmd.Systems = []domain.SystemInput{{Name: "Shop", Platform: "SHOPIFY"}, {Name: "Fortnox", Platform: "FORTNOX"}}

	events, err := when(t, given(), cmd)

	thenInvalid(t, events, err, "usesSettlement")
}

func TestStartProjectPlatformAnyCase(t *testing.T) {
	cmd := validStart()
	cmd.Systems[1].Platform = " fortnox "

	events, err := when(t, given(), cmd)

	start := onlyStarted(t, events, err)
	if got := start.Systems[1].Platform; got != "FORTNOX" {
		t.Errorf("platform = %q, want FORTNOX", got)
	}
}
