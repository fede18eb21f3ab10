package readmodel_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/readmodel"
)

func TestProjectViewApplicability(t *testing.T) {
	cases := []struct {
		name  string
		start domain.StartProject
		// steps and phases map ids to the expected state.
		steps  map[string]string
		phases map[string]string
	}{
		{
			name:  "Shopify only",
			start: hostedStart("customer-1"),
			steps: map[string]string{
				"install-plugin":        readmodel.StateNotApplicable,
				"settlement-accounting": readmodel.StateNotApplicable,
				"settlement-data":       readmodel.StateNotApplicable,
				"collect-information":   readmodel.StateOpen,
				"order-testing":         readmodel.StateOpen,
			},
			phases: map[string]string{
				"preparation": readmodel.StateOpen,
				"settlement":  readmodel.StateNotApplicable,
			},
		},
		{
			name:  "WooCommerce with settlement",
			start: settlementStart("customer-2"),
			steps: map[string]string{
				"install-plugin":        readmodel.StateOpen,
				"settlement-accounting": readmodel.StateOpen,
				"settlement-data":       readmodel.StateOpen,
			},
			phases: map[string]string{
				"preparation": readmodel.StateOpen,
				"settlement":  readmodel.StateOpen,
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			models := readmodel.NewModels()
			s := newScenario(t, models)
			id := s.start(hours(0), c.start)

			v := mustProject(t, models, id)

			for stepID, want := range c.steps {
				st := findStep(t, v, stepID)
				if st.State != want {
					t.Errorf("step %s: state = %s, expected %s", stepID, st.State, want)
				}
				if applicable := want != readmodel.StateNotApplicable; st.Applicable != applicable {
					t.Errorf("step %s: applicable = %v, expected %v", stepID, st.Applicable, applicable)
				}
			}
			for phaseID, want := range c.phases {
				ph := findPhase(t, v, phaseID)
				if ph.State != want {
					t.Errorf("phase %s: state = %s, expected %s", phaseID, ph.State, want)
				}
				if applicable := want != readmodel.StateNotApplicable; ph.Applicable != applicable {
					t.Errorf("phase %s: applicable = %v, expected %v", phaseID, ph.Applicable, applicable)
				}
			}
			if v.CurrentPhaseID != "preparation" {
				t.Errorf("current phase = %q, expected preparation", v.CurrentPhaseID)
			}
		})
	}
}

func TestProjectViewSystems(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), settlementStart("customer-1"))

	v := mustProject(t, models, id)

	want := []readmodel.System{
		{ID: "woocommerce-shop", Name: "WooCommerce shop", Platform: "WOOCOMMERCE", Category: domain.CategoryShop, OpenSourceShop: true},
		{ID: "fortnox", Name: "Fortnox", Platform: "FORTNOX", Category: domain.CategoryERP},
		{ID: "klarna", Name: "Klarna", Platform: "KLARNA", Category: domain.CategoryPayment},
		{ID: "postnord", Name: "PostNord", Platform: "POSTNORD", Category: domain.CategoryLogistics},
	}
	if !slices.Equal(v.Systems, want) {
		t.Errorf("systems = %+v\nexpected %+v", v.Systems, want)
	}
	if !v.UsesSettlement {
		t.Error("usesSettlement = false, expected true")
	}
}

func TestProjectViewStepStates(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))
	p := s.aggregate(id)
	var rest []domain.Command
	for _, a := range p.AskedQuestions(mustStep(t, "collect-information"))[1:] {
		rest = append(rest, domain.SubmitAnswer{QuestionID: a.Question.ID, SystemID: a.Key().SystemID, Value: validAnswer(p, a)})
	}
	rest = append(rest, domain.AddContact{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se"})

	stages := []struct {
		name       string
		at         time.Time
		cmds       []domain.Command
		state      string
		phaseState string
		missing    bool
		completed  bool
		reopenings int
	}{
		{"started", hours(0), nil, readmodel.StateOpen, readmodel.StateOpen, true, false, 0},
		{"first answer", hours(1), []domain.Command{domain.SubmitAnswer{QuestionID: "platform-login", Value: "login-secret-1234"}}, readmodel.StateInProgress, readmodel.StateInProgress, true, false, 0},
		{"ready", hours(2), rest, readmodel.StateInProgress, readmodel.StateInProgress, false, false, 0},
		{"completed", hours(3), []domain.Command{domain.CompleteStep{StepID: "collect-information"}}, readmodel.StateCompleted, readmodel.StateInProgress, false, true, 0},
		{"reopened", hours(4), []domain.Command{domain.ReopenStep{StepID: "collect-information", Reason: "wrong credentials"}}, readmodel.StateInProgress, readmodel.StateInProgress, false, false, 1},
	}
	for _, stage := range stages {
		if len(stage.cmds) > 0 {
			s.do(id, stage.at, stage.cmds...)
		}
		v := mustProject(t, models, id)
		st := findStep(t, v, "collect-information")

		if st.State != stage.state {
			t.Errorf("%s: step state = %s, expected %s", stage.name, st.State, stage.state)
		}
		if ph := findPhase(t, v, "preparation"); ph.State != stage.phaseState {
			t.Errorf("%s: phase state = %s, expected %s", stage.name, ph.State, stage.phaseState)
		}
		if stage.missing && len(st.Missing) == 0 {
			t.Errorf("%s: missing is empty, expected the unanswered questions", stage.name)
		}
		if !stage.missing && len(st.Missing) != 0 {
			t.Errorf("%s: missing = %q, expected none", stage.name, st.Missing)
		}
		if stage.completed && (st.CompletedAt == nil || !st.CompletedAt.Equal(stage.at)) {
			t.Errorf("%s: completedAt = %v, expected %s", stage.name, st.CompletedAt, stage.at)
		}
		if !stage.completed && st.CompletedAt != nil {
			t.Errorf("%s: completedAt = %s, expected nil", stage.name, st.CompletedAt)
		}
		if len(st.Reopenings) != stage.reopenings {
			t.Errorf("%s: %d reopenings, expected %d", stage.name, len(st.Reopenings), stage.reopenings)
		}
	}

	v := mustProject(t, models, id)
	st := findStep(t, v, "collect-information")
	want := readmodel.Reopening{Reason: "wrong credentials", ReopenedAt: hours(4), ReopenedBy: actorID, Version: v.Version}
	if len(st.Reopenings) == 1 && st.Reopenings[0] != want {
		t.Errorf("reopening = %+v, expected %+v", st.Reopenings[0], want)
	}
	if open := findStep(t, v, "product-data"); open.State != readmodel.StateOpen {
		t.Errorf("untouched step product-data: state = %s, expected %s", open.State, readmodel.StateOpen)
	}
}

func TestProjectViewQuestionnaire(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))

	// A Shopify and Fortnox project without settlement has 19 required
	// questions in the first phase: collect-information asks 1 + 2 + 2 + 1,
	// product-data 3, flows 4, order-status-invoices 4 and
	// system-requirements 2 (one confirmation per system).
	const required = 19
	stages := []struct {
		name     string
		cmds     []domain.Command
		answered int
		missing  string
	}{
		{"started", nil, 0, "unique-sku"},
		{"one answer", []domain.Command{domain.SubmitAnswer{QuestionID: "unique-sku", Value: "yes"}}, 1, "prices-state-vat"},
		{"per-system answer", []domain.Command{domain.SubmitAnswer{QuestionID: "api-endpoint", SystemID: "fortnox", Value: "https://api.fortnox.se"}}, 2, "api-endpoint@shopify-store"},
		{"confirmation no", []domain.Command{domain.SubmitAnswer{QuestionID: "prices-state-vat", Value: "no"}}, 2, "prices-state-vat"},
		{"confirmation yes", []domain.Command{domain.SubmitAnswer{QuestionID: "prices-state-vat", Value: "yes"}}, 3, "valid-product-names"},
	}
	for _, stage := range stages {
		if len(stage.cmds) > 0 {
			s.do(id, hours(1), stage.cmds...)
		}
		q := mustProject(t, models, id).Questionnaire

		if q.Required != required {
			t.Errorf("%s: required = %d, expected %d", stage.name, q.Required, required)
		}
		if q.Answered != stage.answered {
			t.Errorf("%s: answered = %d, expected %d", stage.name, q.Answered, stage.answered)
		}
		if len(q.Missing) != required-stage.answered {
			t.Errorf("%s: %d missing, expected %d", stage.name, len(q.Missing), required-stage.answered)
		}
		if !slices.Contains(q.Missing, stage.missing) {
			t.Errorf("%s: missing = %q, expected it to contain %s", stage.name, q.Missing, stage.missing)
		}
		if mustProject(t, models, id).ReadyForConfiguration {
			t.Errorf("%s: readyForConfiguration = true with %d of %d answered", stage.name, q.Answered, q.Required)
		}
	}

	for _, step := range []string{"collect-information", "product-data", "flows", "order-status-invoices", "system-requirements"} {
		s.answerStep(id, hours(2), step)
	}
	v := mustProject(t, models, id)
	if v.Questionnaire.Answered != required {
		t.Errorf("answered = %d after every answer, expected %d", v.Questionnaire.Answered, required)
	}
	if len(v.Questionnaire.Missing) != 0 {
		t.Errorf("missing = %q after every answer, expected none", v.Questionnaire.Missing)
	}
	if v.Questionnaire.Completion() != 1 {
		t.Errorf("completion = %v after every answer, expected 1", v.Questionnaire.Completion())
	}
	if !v.ReadyForConfiguration {
		t.Error("readyForConfiguration = false after every answer")
	}
}

func TestProjectViewMasksSecrets(t *testing.T) {
	cases := []struct {
		name     string
		key      string
		answer   domain.SubmitAnswer
		revision domain.SubmitAnswer
		masked   []string
	}{
		{
			name:     "long secret",
			key:      "platform-login",
			answer:   domain.SubmitAnswer{QuestionID: "platform-login", Value: "admin:first-password-9876"},
			revision: domain.SubmitAnswer{QuestionID: "platform-login", Value: "admin:second-password-4321"},
			masked:   []string{"••••9876", "••••4321"},
		},
		{
			name:     "per-system secret",
			key:      "api-credentials@fortnox",
			answer:   domain.SubmitAnswer{QuestionID: "api-credentials", SystemID: "fortnox", Value: "fortnox-token-AAAA1111"},
			revision: domain.SubmitAnswer{QuestionID: "api-credentials", SystemID: "fortnox", Value: "fortnox-token-BBBB2222"},
			masked:   []string{"••••1111", "••••2222"},
		},
		{
			name:     "short secret",
			key:      "platform-login",
			answer:   domain.SubmitAnswer{QuestionID: "platform-login", Value: "pw12345"},
			revision: domain.SubmitAnswer{QuestionID: "platform-login", Value: "pw67890"},
			masked:   []string{"••••", "••••"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			models := readmodel.NewModels()
			s := newScenario(t, models)
			id := s.start(hours(0), hostedStart("customer-1"))
			sub := models.Feed().Subscribe(id, true)
			defer sub.Close()

			s.do(id, hours(1), c.answer)
			s.do(id, hours(2), c.revision)

			v := mustProject(t, models, id)
			q := findQuestion(t, v, c.key)
			var values []string
			for _, r := range q.Revisions {
				values = append(values, r.Value)
			}
			if !slices.Equal(values, c.masked) {
				t.Errorf("revision values = %q, expected %q", values, c.masked)
			}
			if q.Answer == nil || q.Answer.Value != c.masked[1] {
				t.Errorf("answer = %+v, expected the value %q", q.Answer, c.masked[1])
			}
			views := []*readmodel.Project{v}
			for _, change := range drain(sub) {
				views = append(views, change.Project)
			}
			for _, view := range views {
				raw := viewJSON(t, view)
				for _, secret := range []string{c.answer.Value, c.revision.Value} {
					if strings.Contains(raw, secret) {
						t.Errorf("view at version %d contains the secret %q", view.Version, secret)
					}
				}
			}
		})
	}

	t.Run("text answer shown", func(t *testing.T) {
		models := readmodel.NewModels()
		s := newScenario(t, models)
		id := s.start(hours(0), hostedStart("customer-1"))

		s.do(id, hours(1), domain.SubmitAnswer{QuestionID: "api-endpoint", SystemID: "fortnox", Value: "https://api.fortnox.se/3"})

		q := findQuestion(t, mustProject(t, models, id), "api-endpoint@fortnox")
		if q.Answer == nil || q.Answer.Value != "https://api.fortnox.se/3" {
			t.Errorf("answer to a TEXT question = %+v, expected the value unmasked", q.Answer)
		}
	})
}

func TestProjectViewAnswerRevisions(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))
	values := []string{"processing", "completed", "ready-to-ship"}
	var want []readmodel.Answer
	for i, value := range values {
		at := hours(float64(i + 1))
		env := s.do(id, at, domain.SubmitAnswer{QuestionID: "collect-order-status", Value: value})
		want = append(want, readmodel.Answer{Value: value, Version: int(env[0].Revision) + 1, SubmittedAt: at, SubmittedBy: actorID})
		s.do(id, at, domain.LogTime{Hours: 0.5, Description: "call about order status"})
	}

	q := findQuestion(t, mustProject(t, models, id), "collect-order-status")

	if !slices.Equal(q.Revisions, want) {
		t.Errorf("revisions = %+v\nexpected %+v", q.Revisions, want)
	}
	if q.Answer == nil || *q.Answer != want[len(want)-1] {
		t.Errorf("answer = %+v, expected the last revision %+v", q.Answer, want[len(want)-1])
	}
	if unanswered := findQuestion(t, mustProject(t, models, id), "shipped-order-status"); unanswered.Answer != nil || len(unanswered.Revisions) != 0 {
		t.Errorf("unanswered question: answer = %+v, revisions = %+v, expected none", unanswered.Answer, unanswered.Revisions)
	}
}

func TestProjectViewTestAttempts(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))
	s.completePhase(id, hours(1), "preparation")
	failed := s.do(id, hours(2), domain.RecordTestResult{StepID: "order-testing", TestID: "joint-test-run", Notes: "order lacks shipping address"})
	passed := s.do(id, hours(3), domain.RecordTestResult{StepID: "order-testing", TestID: "joint-test-run", Passed: true})

	st := findStep(t, mustProject(t, models, id), "order-testing")

	if st.State != readmodel.StateInProgress {
		t.Errorf("step state = %s after a test run, expected %s", st.State, readmodel.StateInProgress)
	}
	if !slices.Equal(st.Missing, []string{"test:test-purchase"}) {
		t.Errorf("missing = %q, expected [test:test-purchase]", st.Missing)
	}
	if len(st.Tests) != 2 {
		t.Fatalf("step has %d tests, expected 2", len(st.Tests))
	}
	joint, purchase := st.Tests[0], st.Tests[1]
	wantAttempts := []readmodel.TestAttempt{
		{Passed: false, Notes: "order lacks shipping address", RecordedAt: hours(2), RecordedBy: actorID, Version: int(failed[0].Revision) + 1},
		{Passed: true, RecordedAt: hours(3), RecordedBy: actorID, Version: int(passed[0].Revision) + 1},
	}
	if !slices.Equal(joint.Attempts, wantAttempts) {
		t.Errorf("joint-test-run attempts = %+v\nexpected %+v", joint.Attempts, wantAttempts)
	}
	if joint.State != readmodel.TestPassed {
		t.Errorf("joint-test-run state = %s, expected %s", joint.State, readmodel.TestPassed)
	}
	if purchase.State != readmodel.TestNotRun || len(purchase.Attempts) != 0 {
		t.Errorf("test-purchase: state = %s with %d attempts, expected %s with none", purchase.State, len(purchase.Attempts), readmodel.TestNotRun)
	}

	s.do(id, hours(4), domain.RecordTestResult{StepID: "order-testing", TestID: "joint-test-run", Notes: "failed again"})
	joint = findStep(t, mustProject(t, models, id), "order-testing").Tests[0]
	if joint.State != readmodel.TestFailed {
		t.Errorf("joint-test-run state = %s after a failed run, expected %s", joint.State, readmodel.TestFailed)
	}
	if len(joint.Attempts) != 3 {
		t.Errorf("joint-test-run has %d attempts, expected 3", len(joint.Attempts))
	}
}

// Reopening a step clears its passed tests in the aggregate, which then
// lists them as missing. The view must not show those tests as PASSED.
func TestProjectViewTestsAfterReopen(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))
	s.completePhase(id, hours(1), "preparation")
	s.answerStep(id, hours(2), "order-testing")
	s.do(id, hours(2),
		domain.RecordTestResult{StepID: "order-testing", TestID: "joint-test-run", Passed: true},
		domain.RecordTestResult{StepID: "order-testing", TestID: "test-purchase", Passed: true},
		domain.CompleteStep{StepID: "order-testing"},
	)

	s.do(id, hours(3), domain.ReopenStep{StepID: "order-testing", Reason: "invoices were booked twice"})

	st := findStep(t, mustProject(t, models, id), "order-testing")
	if want := []string{"test:joint-test-run", "test:test-purchase"}; !slices.Equal(st.Missing, want) {
		t.Errorf("missing = %q after reopening, expected %q", st.Missing, want)
	}
	for _, test := range st.Tests {
		if test.State != readmodel.TestNotRun {
			t.Errorf("test %s: state = %s after its step was reopened, expected %s because the step lists it as missing", test.ID, test.State, readmodel.TestNotRun)
		}
		if len(test.Attempts) != 1 {
			t.Errorf("test %s: %d attempts after reopening, expected the 1 earlier attempt kept", test.ID, len(test.Attempts))
		}
	}
}

func TestProjectViewWaiting(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))

	stages := []struct {
		name   string
		at     time.Time
		cmd    domain.Command
		since  time.Time
		reason string
	}{
		{"marked", hours(2), domain.MarkWaitingOnCustomer{Reason: "questionnaire not returned"}, hours(2), "questionnaire not returned"},
		{"resumed", hours(3), domain.ResumeWork{}, time.Time{}, ""},
		{"marked again", hours(5), domain.MarkWaitingOnCustomer{Reason: "API keys missing"}, hours(5), "API keys missing"},
	}
	for _, stage := range stages {
		s.do(id, stage.at, stage.cmd)
		v := mustProject(t, models, id)

		if stage.reason == "" {
			if v.Waiting != nil {
				t.Errorf("%s: waiting = %+v, expected nil", stage.name, v.Waiting)
			}
			continue
		}
		if v.Waiting == nil {
			t.Fatalf("%s: waiting = nil, expected a wait", stage.name)
		}
		if !v.Waiting.Since.Equal(stage.since) {
			t.Errorf("%s: waiting since %s, expected %s", stage.name, v.Waiting.Since, stage.since)
		}
		if v.Waiting.Reason != stage.reason {
			t.Errorf("%s: waiting reason = %q, expected %q", stage.name, v.Waiting.Reason, stage.reason)
		}
		if !slices.Equal(v.Waiting.MissingAnswers, v.Questionnaire.Missing) || len(v.Waiting.MissingAnswers) != 19 {
			t.Errorf("%s: missing answers = %q, expected the 19 missing questionnaire answers", stage.name, v.Waiting.MissingAnswers)
		}
	}
}

func TestProjectViewTimeEntries(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))
	logs := []struct {
		at  time.Time
		cmd domain.LogTime
	}{
		{hours(1), domain.LogTime{Hours: 1.5, Description: "kickoff call", StepID: "collect-information"}},
		{hours(2), domain.LogTime{Hours: 0.25, Description: "  e-mail to customer  "}},
		{hours(3), domain.LogTime{Hours: 3, Description: "flow workshop", StepID: "flows"}},
	}
	var want []readmodel.TimeEntry
	for _, l := range logs {
		env := s.do(id, l.at, l.cmd)
		want = append(want, readmodel.TimeEntry{
			Hours: l.cmd.Hours, Minutes: int(l.cmd.Hours * 60), Description: strings.TrimSpace(l.cmd.Description), StepID: l.cmd.StepID,
			LoggedAt: l.at, LoggedBy: actorID, Version: int(env[0].Revision) + 1,
		})
	}

	v := mustProject(t, models, id)

	if !slices.Equal(v.TimeEntries, want) {
		t.Errorf("time entries = %+v\nexpected %+v", v.TimeEntries, want)
	}
	if v.LoggedHours != 4.75 {
		t.Errorf("logged hours = %v, expected 4.75", v.LoggedHours)
	}
	if v.EstimatedHours != 10 {
		t.Errorf("estimated hours = %v, expected 10", v.EstimatedHours)
	}
}

func TestProjectViewLifecycleTimes(t *testing.T) {
	cases := []struct {
		name      string
		finish    func(s *scenario, id string)
		status    domain.Status
		completed bool
		cancelled bool
		reason    string
	}{
		{"active", func(*scenario, string) {}, domain.StatusActive, false, false, ""},
		{"completed", func(s *scenario, id string) { s.completeProject(id, hours(30)) }, domain.StatusCompleted, true, false, ""},
		{"cancelled", func(s *scenario, id string) {
			s.do(id, hours(30), domain.CancelProject{Reason: "customer changed ERP"})
		}, domain.StatusCancelled, false, true, "customer changed ERP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			models := readmodel.NewModels()
			s := newScenario(t, models)
			id := s.start(hours(1), hostedStart("customer-1"))
			s.do(id, hours(2), domain.AddContact{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se", Role: "CFO"})

			c.finish(s, id)

			v := mustProject(t, models, id)
			if v.Status != c.status {
				t.Errorf("status = %s, expected %s", v.Status, c.status)
			}
			if !v.StartedAt.Equal(hours(1)) || v.StartedBy != actorID {
				t.Errorf("started at %s by %q, expected %s by %q", v.StartedAt, v.StartedBy, hours(1), actorID)
			}
			checkTime(t, "completedAt", v.CompletedAt, c.completed, hours(30))
			checkTime(t, "cancelledAt", v.CancelledAt, c.cancelled, hours(30))
			if v.CancellationReason != c.reason {
				t.Errorf("cancellation reason = %q, expected %q", v.CancellationReason, c.reason)
			}
			wantUpdated := hours(30)
			if c.status == domain.StatusActive {
				wantUpdated = hours(2)
			}
			if !v.UpdatedAt.Equal(wantUpdated) {
				t.Errorf("updatedAt = %s, expected %s", v.UpdatedAt, wantUpdated)
			}
			wantPhase := ""
			if c.status == domain.StatusActive {
				wantPhase = "preparation"
			}
			if v.CurrentPhaseID != wantPhase {
				t.Errorf("current phase = %q, expected %q", v.CurrentPhaseID, wantPhase)
			}
			if len(v.Contacts) == 0 || !v.Contacts[0].AddedAt.Equal(hours(2)) {
				t.Errorf("contacts = %+v, expected Anna added at %s", v.Contacts, hours(2))
			}
		})
	}
}

// checkTime checks that the time field is set to want when set is true and
// nil otherwise.
func checkTime(t *testing.T, field string, got *time.Time, set bool, want time.Time) {
	t.Helper()
	switch {
	case set && got == nil:
		t.Errorf("%s = nil, expected %s", field, want)
	case set && !got.Equal(want):
		t.Errorf("%s = %s, expected %s", field, got, want)
	case !set && got != nil:
		t.Errorf("%s = %s, expected nil", field, got)
	}
}
