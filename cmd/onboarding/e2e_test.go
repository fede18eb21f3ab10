package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

const projectQuery = `query($id: ID!) {
  project(id: $id) {
    id version status loggedHours estimatedHours readyForConfiguration
    currentPhase { id }
    questionnaire { answered required completion missing }
    contacts { name email role }
    phases { id state steps { id state } }
    step(id: "order-testing") { tests { id state attempts { passed notes } } }
    flows: step(id: "flows") { questions { key answer { value } revisions { value version } } }
    info: step(id: "collect-information") { questions { key kind answer { value } } }
  }
}`

type projectView struct {
	ID                    string
	Version               int
	Status                string
	LoggedHours           float64
	EstimatedHours        float64
	ReadyForConfiguration bool
	CurrentPhase          *struct{ ID string }
	Questionnaire         struct {
		Answered, Required int
		Completion         float64
		Missing            []string
	}
	Contacts []struct{ Name, Email, Role string }
	Phases   []struct {
		ID, State string
		Steps     []struct{ ID, State string }
	}
	Step struct {
		Tests []struct {
			ID, State string
			Attempts  []struct {
				Passed bool
				Notes  string
			}
		}
	}
	Flows struct {
		Questions []struct {
			Key       string
			Answer    *struct{ Value string }
			Revisions []struct {
				Value   string
				Version int
			}
		}
	}
	Info struct {
		Questions []struct {
			Key, Kind string
			Answer    *struct{ Value string }
		}
	}
}

func (s *testServer) project(t *testing.T, id string) projectView {
	t.Helper()
	var p projectView
	s.must(t, projectQuery, map[string]any{"id": id}, "project", &p)
	return p
}

func TestExampleRunEndToEnd(t *testing.T) {
	s := startServer(t, t.TempDir())
	id := playExample(t, s)
	p := s.project(t, id)

	if p.Status != "COMPLETED" {
		t.Errorf("status = %s, want COMPLETED", p.Status)
	}
	if p.CurrentPhase != nil {
		t.Errorf("current phase = %v, want none after completion", p.CurrentPhase.ID)
	}
	if p.LoggedHours != 17.5 || p.EstimatedHours != 24 {
		t.Errorf("hours logged %v of %v, want 17.5 of 24", p.LoggedHours, p.EstimatedHours)
	}
	if !p.ReadyForConfiguration || p.Questionnaire.Completion != 1 {
		t.Errorf("questionnaire %+v, ready %v; want complete", p.Questionnaire, p.ReadyForConfiguration)
	}
	if len(p.Contacts) != 2 || p.Contacts[1].Role != "Bookkeeping and VAT" {
		t.Errorf("contacts = %+v, want owner and bookkeeper", p.Contacts)
	}
	for _, ph := range p.Phases {
		if ph.State != "COMPLETED" {
			t.Errorf("phase %s state = %s, want COMPLETED", ph.ID, ph.State)
		}
	}
	joint := p.Step.Tests[0]
	if joint.ID != "joint-test-run" || len(joint.Attempts) != 2 || joint.Attempts[0].Passed || !joint.Attempts[1].Passed || joint.State != "PASSED" {
		t.Errorf("joint test run = %+v, want a failed then a passed attempt", joint)
	}
	for _, q := range p.Flows.Questions {
		if q.Key == "stock-master" && (len(q.Revisions) != 2 || q.Revisions[0].Value != "webshop" || q.Answer.Value != "fortnox") {
			t.Errorf("stock-master revisions = %+v, want webshop then fortnox", q.Revisions)
		}
	}
	for _, q := range p.Info.Questions {
		if q.Kind == "SECRET" && (q.Answer == nil || !strings.HasPrefix(q.Answer.Value, "••••")) {
			t.Errorf("secret %s answer = %+v, want a masked value", q.Key, q.Answer)
		}
	}
}

func TestRestartKeepsProjects(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	completed := playExample(t, s)
	open := s.startProject(t, "acme")
	s.must(t, `mutation($id: ID!) { markWaitingOnCustomer(input: {projectId: $id, reason: "API key missing"}) { project { version } } }`,
		map[string]any{"id": open}, "", nil)

	const dashboardQuery = `{ dashboard { totalProjects completedProjects estimatedHours loggedHours questionnaireCompletion
	  byStatus { status count } byPhase { phaseId count } waitingOnCustomer { projectId reason missingAnswers } } }`
	before := s.do(t, dashboardQuery, nil)
	beforeCompleted, beforeOpen := s.project(t, completed), s.project(t, open)
	s.stop(t)

	s2 := startServer(t, dir)
	after := s2.do(t, dashboardQuery, nil)
	if string(after.Data["dashboard"]) != string(before.Data["dashboard"]) {
		t.Errorf("dashboard after restart:\n%s\nbefore:\n%s", after.Data["dashboard"], before.Data["dashboard"])
	}
	for id, want := range map[string]projectView{completed: beforeCompleted, open: beforeOpen} {
		got := s2.project(t, id)
		if jsonString(got) != jsonString(want) {
			t.Errorf("project %s after restart:\n%s\nbefore:\n%s", id, jsonString(got), jsonString(want))
		}
	}
	var page struct{ TotalCount int }
	s2.must(t, `{ projects { totalCount } }`, nil, "projects", &page)
	if page.TotalCount != 2 {
		t.Errorf("projects after restart = %d, want 2", page.TotalCount)
	}

	// The restarted server goes on from the stored version.
	var payload struct{ Project struct{ Version int } }
	s2.must(t, `mutation($id: ID!) { resumeWork(input: {projectId: $id, expectedVersion: 2}) { project { version } } }`,
		map[string]any{"id": open}, "resumeWork", &payload)
	if payload.Project.Version != 3 {
		t.Errorf("version after resume = %d, want 3", payload.Project.Version)
	}
}

func TestBadInputCodes(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *Config) {
		c.Server.MaxBodyBytes = 4096
		c.Server.MaxDepth = 6
		c.Server.MaxAliases = 3
	})
	id := s.startProject(t, "acme")
	answer := `mutation($input: SubmitAnswerInput!) { submitAnswer(input: $input) { project { version } } }`

	cases := []struct {
		name, query string
		vars        map[string]any
		code        string
		mention     string
	}{
		{"unknown project", answer, map[string]any{"input": map[string]any{"projectId": "7d3c7f0e-0000-4000-8000-000000000000", "questionId": "sync-stock", "value": "true"}}, "NOT_FOUND", "7d3c7f0e"},
		{"malformed project id", answer, map[string]any{"input": map[string]any{"projectId": "nope", "questionId": "sync-stock", "value": "true"}}, "NOT_FOUND", "nope"},
		{"unknown question", answer, map[string]any{"input": map[string]any{"projectId": id, "questionId": "favourite-colour", "value": "blue"}}, "NOT_FOUND", "favourite-colour"},
		{"boolean kind", answer, map[string]any{"input": map[string]any{"projectId": id, "questionId": "sync-stock", "value": "maybe"}}, "BAD_USER_INPUT", "maybe"},
		{"system kind", answer, map[string]any{"input": map[string]any{"projectId": id, "questionId": "product-master", "value": "SAP"}}, "BAD_USER_INPUT", "SAP"},
		{"choice kind", answer, map[string]any{"input": map[string]any{"projectId": id, "questionId": "order-document", "value": "FAX"}}, "BAD_USER_INPUT", "CUSTOMER_INVOICE"},
		{"missing system id", answer, map[string]any{"input": map[string]any{"projectId": id, "questionId": "api-credentials", "value": "k"}}, "BAD_USER_INPUT", "systemId"},
		{"wrong version", answer, map[string]any{"input": map[string]any{"projectId": id, "questionId": "sync-stock", "value": "true", "expectedVersion": 7}}, "VERSION_CONFLICT", "version 1"},
		{"step not ready", `mutation($id: ID!) { completeStep(input: {projectId: $id, stepId: "flows"}) { project { version } } }`, map[string]any{"id": id}, "RULE_VIOLATION", "flows"},
		{"phase order", `mutation($id: ID!) { completeStep(input: {projectId: $id, stepId: "product-sync"}) { project { version } } }`, map[string]any{"id": id}, "RULE_VIOLATION", "product-sync"},
		{"step not applicable", `mutation($id: ID!) { completeStep(input: {projectId: $id, stepId: "install-plugin"}) { project { version } } }`, map[string]any{"id": id}, "RULE_VIOLATION", "install-plugin"},
		{"unknown platform", startMutation, map[string]any{"input": map[string]any{"customerId": "c", "customerName": "C", "name": "n", "systems": []map[string]any{{"name": "Shop", "platform": "GEOCITIES"}}}}, "BAD_USER_INPUT", "GEOCITIES"},
		{"bad cursor", `{ projects(after: "zzz") { totalCount } }`, nil, "BAD_USER_INPUT", "zzz"},
		{"unknown phase filter", `{ projects(filter: {phaseId: "launch"}) { totalCount } }`, nil, "BAD_USER_INPUT", "launch"},
		{"unknown template version", `{ processTemplate(version: 9) { version } }`, nil, "NOT_FOUND", "9"},
		{"malformed time", `{ project(id: "x", asOf: {time: "2026-12-04"}) { version } }`, nil, "BAD_USER_INPUT", "2026-12-04"},
		{"malformed time variable", `query($t: Time!) { history(projectId: "x", filter: {from: $t}) { totalCount } }`, map[string]any{"t": "yesterday"}, "BAD_USER_INPUT", "yesterday"},
		{"too deep", `{ project(id: "x") { previousProject { previousProject { previousProject { previousProject { previousProject { id } } } } } } }`, nil, "DEPTH_LIMIT_EXCEEDED", "6"},
		{"unknown field", `{ project(id: "x") { colour } }`, nil, "GRAPHQL_VALIDATION_FAILED", "colour"},
		{"too many aliases", `{ a: dashboard { totalProjects } b: dashboard { totalProjects } c: dashboard { totalProjects } d: dashboard { totalProjects } }`, nil, "ALIAS_LIMIT_EXCEEDED", "3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, tc.query, tc.vars)
			if res.code() != tc.code {
				t.Fatalf("code = %q, want %q; errors %+v", res.code(), tc.code, res.Errors)
			}
			if !strings.Contains(res.Errors[0].Message, tc.mention) {
				t.Errorf("message %q does not mention %q", res.Errors[0].Message, tc.mention)
			}
		})
	}

	// A rule violation lists what is missing.
	res := s.do(t, `mutation($id: ID!) { completeStep(input: {projectId: $id, stepId: "flows"}) { project { version } } }`, map[string]any{"id": id})
	missing, _ := res.Errors[0].Extensions["missing"].([]any)
	if len(missing) != 4 || missing[0] != "answer:product-master" {
		t.Errorf("missing = %v, want the four flows answers", missing)
	}
	// A version conflict names the current version.
	res = s.do(t, answer, map[string]any{"input": map[string]any{"projectId": id, "questionId": "sync-stock", "value": "true", "expectedVersion": 7}})
	if cur := res.Errors[0].Extensions["currentVersion"]; cur != float64(1) {
		t.Errorf("currentVersion = %v, want 1", cur)
	}

	big := bytes.Repeat([]byte("x"), 5000)
	res = s.post(t, []byte(`{"query":"{ dashboard { totalProjects } }","variables":{"pad":"`+string(big)+`"}}`), nil)
	if res.Status != http.StatusRequestEntityTooLarge || res.code() != "REQUEST_TOO_LARGE" {
		t.Errorf("oversized body: status %d code %q, want 413 REQUEST_TOO_LARGE", res.Status, res.code())
	}

	res = s.post(t, []byte(`{"query":"{ dashboard { totalProjects } }"}`), http.Header{"Content-Type": {"text/plain"}})
	if res.Status != http.StatusUnsupportedMediaType || res.code() != "BAD_USER_INPUT" || !strings.Contains(res.Errors[0].Message, "application/json") {
		t.Errorf("text/plain body: status %d, errors %+v; want 415 naming application/json", res.Status, res.Errors)
	}

	// Nothing of the rejected requests was stored.
	if p := s.project(t, id); p.Version != 1 {
		t.Errorf("version after rejected requests = %d, want 1", p.Version)
	}
}

func TestIdempotentRetry(t *testing.T) {
	s := startServer(t, t.TempDir())
	input := map[string]any{
		"customerId": "acme", "customerName": "Acme AB", "name": "Acme", "idempotencyKey": "start-acme-1",
		"systems": []map[string]any{{"name": "Shop", "platform": "SHOPIFY"}},
	}
	var first, second struct{ Project struct{ ID string } }
	s.must(t, startMutation, map[string]any{"input": input}, "startProject", &first)
	s.must(t, startMutation, map[string]any{"input": input}, "startProject", &second)
	if first.Project.ID != second.Project.ID {
		t.Fatalf("retried start made project %s, first made %s", second.Project.ID, first.Project.ID)
	}

	logTime := `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 2, description: "kick-off", idempotencyKey: "log-1"}) { project { version loggedHours } } }`
	var a, b struct {
		Project struct {
			Version     int
			LoggedHours float64
		}
	}
	s.must(t, logTime, map[string]any{"id": first.Project.ID}, "logTime", &a)
	s.must(t, logTime, map[string]any{"id": first.Project.ID}, "logTime", &b)
	if a != b || b.Project.Version != 2 || b.Project.LoggedHours != 2 {
		t.Errorf("retry returned %+v, first %+v; want version 2 with 2 hours both times", b, a)
	}
	var page struct{ TotalCount int }
	s.must(t, `{ projects { totalCount } }`, nil, "projects", &page)
	if page.TotalCount != 1 {
		t.Errorf("projects = %d, want 1", page.TotalCount)
	}

	// After another change, a retry still returns the project as the first
	// request left it.
	s.must(t, `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 3, description: "workshop"}) { project { version } } }`,
		map[string]any{"id": first.Project.ID}, "", nil)
	var late struct {
		Project struct {
			Version     int
			LoggedHours float64
		}
	}
	s.must(t, logTime, map[string]any{"id": first.Project.ID}, "logTime", &late)
	if late != a {
		t.Errorf("late retry returned %+v, want the first result %+v", late, a)
	}

	reused := s.do(t, `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 5, description: "other", idempotencyKey: "log-1"}) { project { version } } }`,
		map[string]any{"id": first.Project.ID})
	if reused.code() != "BAD_USER_INPUT" || !strings.Contains(reused.Errors[0].Message, "log-1") {
		t.Errorf("key reused for another request: %+v, want BAD_USER_INPUT naming the key", reused.Errors)
	}
	if p := s.project(t, first.Project.ID); p.Version != 3 || p.LoggedHours != 5 {
		t.Errorf("project after retries: version %d with %v hours, want 3 with 5", p.Version, p.LoggedHours)
	}
}

func TestGetQueryAndHealth(t *testing.T) {
	s := startServer(t, t.TempDir())
	base := strings.TrimSuffix(s.URL, "/graphql")
	for _, path := range []string{"/healthz", "/readyz", "/"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"?query=%7BprocessTemplate%7Bversion%20phases%7Btitle%7Btext%7D%7D%7D%7D", nil)
	req.Header.Set("Accept-Language", "sv-SE,sv;q=0.9,en;q=0.8")
	req.Header.Set("X-Request-ID", "req-42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			ProcessTemplate struct {
				Version int
				Phases  []struct{ Title struct{ Text string } }
			}
		}
	}
	if err := jsonDecode(resp.Body, &body); err != nil {
		t.Fatal(err)
	}
	if got := body.Data.ProcessTemplate.Phases[0].Title.Text; got != "Kundförberedelser" {
		t.Errorf("Swedish title = %q, want Kundförberedelser", got)
	}
	if got := resp.Header.Get("X-Request-ID"); got != "req-42" {
		t.Errorf("X-Request-ID = %q, want req-42", got)
	}
}
