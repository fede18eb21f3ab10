package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/integrationplatform/onboarding/graph"
)

func mintFor(t *testing.T, role, customer string) string {
	t.Helper()
	var out bytes.Buffer
	args := []string{"token", "--sub", role + "-user", "--role", role}
	if customer != "" {
		args = append(args, "--customer", customer)
	}
	if code := run(context.Background(), args, env(map[string]string{"ONBOARDING_JWT_SECRET": testSecret}), &out, io.Discard); code != 0 {
		t.Fatalf("token command exited %d", code)
	}
	return strings.TrimSpace(out.String())
}

func (s *testServer) as(t *testing.T, token, query string, vars map[string]any) gqlResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	return s.post(t, body, header)
}

// subscribeAs opens an SSE subscription and returns the error code of its
// first message, or "" when none arrives within a short wait.
func (s *testServer) subscribeAs(t *testing.T, token, query string, vars map[string]any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var msg struct{ Errors []gqlError }
		_ = json.Unmarshal([]byte(data), &msg)
		if len(msg.Errors) > 0 {
			code, _ := msg.Errors[0].Extensions["code"].(string)
			return code
		}
		return ""
	}
	return ""
}

// TestRoleMatrix walks every root operation for every role and for a
// caller without a token, and checks that denied requests store nothing.
func TestRoleMatrix(t *testing.T) {
	s := startServer(t, t.TempDir(), withAuth)
	engineer := mintFor(t, "engineer", "")
	start := func(customer string) string {
		res := s.as(t, engineer, startMutation, map[string]any{"input": map[string]any{
			"customerId": customer, "customerName": customer, "name": customer, "systems": []map[string]any{{"name": "Shop", "platform": "SHOPIFY"}},
		}})
		var payload struct{ Project struct{ ID string } }
		_ = json.Unmarshal(res.Data["startProject"], &payload)
		return payload.Project.ID
	}
	own, other := start("acme"), start("globex")

	tokens := map[string]string{
		"customer": mintFor(t, "customer", "acme"),
		"engineer": engineer,
		"auditor":  mintFor(t, "auditor", ""),
		"admin":    mintFor(t, "admin", ""),
	}
	type operation struct {
		field, query string
		project      string // the project the request names; "" for none
	}
	q := func(field, query string, project string) operation { return operation{field, query, project} }
	ops := []operation{
		q("Query.project", `query($p: ID!) { project(id: $p) { id } }`, own),
		q("Query.projects", `{ projects { totalCount } }`, ""),
		q("Query.processTemplate", `{ processTemplate { version } }`, ""),
		q("Query.platforms", `{ platforms { platform } }`, ""),
		q("Query.dashboard", `{ dashboard { totalProjects } }`, ""),
		q("Query.history", `query($p: ID!) { history(projectId: $p) { totalCount } }`, own),
		q("Query.projectDiff", `query($p: ID!) { projectDiff(id: $p, from: {version: 1}, to: {version: 1}) { fromVersion } }`, own),
		q("Query.auditLog", `{ auditLog { pageInfo { hasNextPage } } }`, ""),
		q("Query.verifyProjections", `{ verifyProjections { ok } }`, ""),
		q("Query.replay", `{ replay { events projects } }`, ""),
		q("Mutation.startProject", `mutation { startProject(input: {customerId: "acme", customerName: "Acme", name: "x", systems: [{name: "Shop", platform: "SHOPIFY"}]}) { project { id } } }`, ""),
		q("Mutation.submitAnswer", `mutation($p: ID!) { submitAnswer(input: {projectId: $p, questionId: "sync-stock", value: "true"}) { project { id } } }`, own),
		q("Mutation.addContact", `mutation($p: ID!) { addContact(input: {projectId: $p, name: "A", email: "a@example.com"}) { project { id } } }`, own),
		q("Mutation.removeContact", `mutation($p: ID!) { removeContact(input: {projectId: $p, contactId: "none"}) { project { id } } }`, own),
		q("Mutation.recordTestResult", `mutation($p: ID!) { recordTestResult(input: {projectId: $p, stepId: "order-testing", testId: "test-purchase", passed: true}) { project { id } } }`, own),
		q("Mutation.completeStep", `mutation($p: ID!) { completeStep(input: {projectId: $p, stepId: "flows"}) { project { id } } }`, own),
		q("Mutation.reopenStep", `mutation($p: ID!) { reopenStep(input: {projectId: $p, stepId: "flows", reason: "x"}) { project { id } } }`, own),
		q("Mutation.logTime", `mutation($p: ID!) { logTime(input: {projectId: $p, hours: 1, description: "x"}) { project { id } } }`, own),
		q("Mutation.markWaitingOnCustomer", `mutation($p: ID!) { markWaitingOnCustomer(input: {projectId: $p, reason: "x"}) { project { id } } }`, own),
		q("Mutation.resumeWork", `mutation($p: ID!) { resumeWork(input: {projectId: $p}) { project { id } } }`, own),
		q("Mutation.completeProject", `mutation($p: ID!) { completeProject(input: {projectId: $p}) { project { id } } }`, own),
		q("Mutation.cancelProject", `mutation($p: ID!) { cancelProject(input: {projectId: $p, reason: "x"}) { project { id } } }`, own),
		q("Mutation.revealSecret", `mutation($p: ID!) { revealSecret(input: {projectId: $p, questionId: "platform-login"}) { value } }`, own),
		// Erasure comes last: it changes the project for good.
		q("Mutation.eraseProjectPersonalData", `mutation($p: ID!) { eraseProjectPersonalData(input: {projectId: $p, reason: "x"}) { project { id } } }`, own),
	}
	if len(ops)+3 != len(graph.Permissions) {
		t.Fatalf("the matrix covers %d operations, Permissions lists %d", len(ops)+3, len(graph.Permissions))
	}
	versions := func() string {
		res := s.as(t, engineer, `query($a: ID!, $b: ID!) { a: project(id: $a) { version } b: project(id: $b) { version } }`, map[string]any{"a": own, "b": other})
		return fmt.Sprint(string(res.Data["a"]), string(res.Data["b"]))
	}

	for _, op := range ops {
		vars := map[string]any{"p": op.project}
		if res := s.as(t, "", op.query, vars); res.code() != "UNAUTHENTICATED" {
			t.Errorf("%s without a token: code %q, want UNAUTHENTICATED", op.field, res.code())
		}
		for role, token := range tokens {
			allowed := contains(graph.Permissions[op.field], role)
			before := versions()
			res := s.as(t, token, op.query, vars)
			denied := res.code() == "FORBIDDEN"
			if allowed == denied {
				t.Errorf("%s as %s: code %q, want allowed %v", op.field, role, res.code(), allowed)
			}
			if denied && versions() != before {
				t.Errorf("%s as %s was denied but stored events", op.field, role)
			}
			// A customer never reaches another customer's project.
			if role == "customer" && op.project != "" {
				vars := map[string]any{"p": other}
				if res := s.as(t, token, op.query, vars); res.code() != "FORBIDDEN" {
					t.Errorf("%s as customer on another customer's project: code %q, want FORBIDDEN", op.field, res.code())
				}
			}
		}
	}

	// The customer's project list holds only its own projects, and a filter
	// naming another customer is denied.
	count := func(token, filter string) int {
		var page struct{ TotalCount int }
		res := s.as(t, token, `{ projects`+filter+` { totalCount } }`, nil)
		_ = json.Unmarshal(res.Data["projects"], &page)
		return page.TotalCount
	}
	acme, all := count(engineer, `(filter: {customerId: "acme"})`), count(engineer, "")
	if got := count(tokens["customer"], ""); got != acme || acme == all {
		t.Errorf("customer sees %d projects; acme has %d of %d", got, acme, all)
	}
	if got := count(tokens["customer"], `(filter: {customerId: "acme"})`); got != acme {
		t.Errorf("customer asking for its own projects sees %d, want %d", got, acme)
	}
	if res := s.as(t, tokens["customer"], `{ projects(filter: {customerId: "globex"}) { totalCount } }`, nil); res.code() != "FORBIDDEN" {
		t.Errorf("customer asking for globex's projects: code %q, want FORBIDDEN", res.code())
	}
	var dashboard struct{ TotalProjects int }
	_ = json.Unmarshal(s.as(t, tokens["customer"], `{ dashboard { totalProjects } }`, nil).Data["dashboard"], &dashboard)
	if dashboard.TotalProjects != acme {
		t.Errorf("customer's dashboard counts %d projects, want its own %d", dashboard.TotalProjects, acme)
	}

	subs := []operation{
		q("Subscription.projectChanged", `subscription($p: ID!) { projectChanged(id: $p) { event { type } } }`, own),
		q("Subscription.projectEvents", `subscription($p: ID) { projectEvents(projectId: $p) { type } }`, own),
		q("Subscription.dashboardChanged", `subscription { dashboardChanged { totalProjects } }`, ""),
	}
	for _, op := range subs {
		for role, token := range tokens {
			allowed := contains(graph.Permissions[op.field], role)
			code := s.subscribeAs(t, token, op.query, map[string]any{"p": op.project})
			if allowed == (code == "FORBIDDEN") {
				t.Errorf("%s as %s: code %q, want allowed %v", op.field, role, code, allowed)
			}
		}
	}
	if code := s.subscribeAs(t, tokens["customer"], `subscription { projectEvents { type } }`, nil); code != "" {
		t.Errorf("customer subscribing to the events of all its projects: code %q, want allowed", code)
	}
	if code := s.subscribeAs(t, tokens["customer"], `subscription($p: ID!) { projectChanged(id: $p) { event { type } } }`, map[string]any{"p": other}); code != "FORBIDDEN" {
		t.Errorf("customer subscribing to another customer's project: code %q, want FORBIDDEN", code)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestCustomerDoesNotSeeInternalNotes(t *testing.T) {
	s := startServer(t, t.TempDir(), withAuth)
	engineer := mintFor(t, "engineer", "")
	client := &http.Client{Transport: bearerTransport{engineer}}
	id, err := Play(context.Background(), client, s.URL, "onboarding-run.graphql", readExample(t), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	customer := mintFor(t, "customer", "nordic-garden-ab")

	const query = `query($p: ID!) {
  project(id: $p) { timeEntries { hours description } step(id: "order-testing") { tests { attempts { passed notes } } } }
  history(projectId: $p, first: 500, filter: {types: ["TestResultRecorded", "TimeLogged"]}) { edges { node { type data } } }
}`
	type view struct {
		Project struct {
			TimeEntries []struct {
				Hours       float64
				Description *string
			}
			Step struct {
				Tests []struct {
					Attempts []struct {
						Passed bool
						Notes  *string
					}
				}
			}
		}
		History struct {
			Edges []struct{ Node struct{ Type, Data string } }
		}
	}
	read := func(token string) view {
		t.Helper()
		res := s.as(t, token, query, map[string]any{"p": id})
		if len(res.Errors) > 0 {
			t.Fatalf("query failed: %+v", res.Errors)
		}
		var v view
		_ = json.Unmarshal(res.Data["project"], &v.Project)
		_ = json.Unmarshal(res.Data["history"], &v.History)
		return v
	}
	notes := func(v view) (descriptions, testNotes, dataNotes int) {
		for _, e := range v.Project.TimeEntries {
			if e.Description != nil {
				descriptions++
			}
		}
		for _, test := range v.Project.Step.Tests {
			for _, a := range test.Attempts {
				if a.Notes != nil {
					testNotes++
				}
			}
		}
		for _, e := range v.History.Edges {
			if strings.Contains(e.Node.Data, `"notes"`) || strings.Contains(e.Node.Data, `"description"`) {
				dataNotes++
			}
		}
		return descriptions, testNotes, dataNotes
	}

	asEngineer, asCustomer := read(engineer), read(customer)
	if d, n, h := notes(asEngineer); d == 0 || n == 0 || h == 0 {
		t.Fatalf("the engineer sees %d time descriptions, %d test notes and %d events with notes; the example has all three", d, n, h)
	}
	if d, n, h := notes(asCustomer); d+n+h != 0 {
		t.Errorf("the customer sees %d time descriptions, %d test notes and %d events with notes, want none", d, n, h)
	}
	if len(asCustomer.Project.TimeEntries) != len(asEngineer.Project.TimeEntries) || len(asCustomer.History.Edges) != len(asEngineer.History.Edges) {
		t.Error("the customer sees fewer time entries or events than the engineer; only the notes should be hidden")
	}
}

func TestPlayWithToken(t *testing.T) {
	s := startServer(t, t.TempDir(), withAuth)
	var out, errOut bytes.Buffer

	code := run(context.Background(), []string{"play", "--url", s.URL, "--token", mintFor(t, "engineer", ""), "../../examples/onboarding-run.graphql"}, env(nil), &out, &errOut)

	if code != 0 || !strings.Contains(out.String(), "project id: ") {
		t.Errorf("play with a token exited %d:\n%s%s", code, out.String(), errOut.String())
	}
}
