package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// historyEvent is a ProjectEvent as the audit tests select it.
type historyEvent struct {
	ID            string
	ProjectID     string
	Type          string
	SchemaVersion int
	StreamVersion int
	Position      string
	OccurredAt    time.Time
	RecordedAt    time.Time
	Actor         struct{ UserID, Role string }
	CorrelationID *string
	CausationID   *string
	Data          string
}

// eventPageView is an EventConnection as the audit tests select it.
type eventPageView struct {
	Edges []struct {
		Cursor string
		Node   historyEvent
	}
	Nodes    []historyEvent
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	TotalCount *int
}

const eventFields = `id projectId type schemaVersion streamVersion position occurredAt recordedAt
  actor { userId role } correlationId causationId data`

const historyQuery = `query($id: ID!, $first: Int, $after: String, $filter: HistoryFilter) {
  history(projectId: $id, first: $first, after: $after, filter: $filter) {
    edges { cursor node { ` + eventFields + ` } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}`

const auditLogQuery = `query($filter: AuditFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    edges { cursor node { ` + eventFields + ` } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}`

// history returns one page of the project's history.
func (s *testServer) history(t *testing.T, id string, vars map[string]any) eventPageView {
	t.Helper()
	all := map[string]any{"id": id}
	for k, v := range vars {
		all[k] = v
	}
	var page eventPageView
	s.must(t, historyQuery, all, "history", &page)
	return page
}

// fullHistory returns every event of the project, read in pages of 500.
func (s *testServer) fullHistory(t *testing.T, id string) []historyEvent {
	t.Helper()
	page := s.history(t, id, map[string]any{"first": 500})
	if page.PageInfo.HasNextPage {
		t.Fatalf("project %s has more than 500 events", id)
	}
	events := make([]historyEvent, len(page.Edges))
	for i, e := range page.Edges {
		events[i] = e.Node
	}
	return events
}

// eventData decodes the data of an event.
func eventData(t *testing.T, e historyEvent) map[string]any {
	t.Helper()
	var data map[string]any
	if err := json.Unmarshal([]byte(e.Data), &data); err != nil {
		t.Fatalf("data of %s event %s is not a JSON object: %v", e.Type, e.ID, err)
	}
	return data
}

// findEvent returns the event of type eventType whose data has key set
// to value; with last set, the last such event, else the first.
func findEvent(t *testing.T, events []historyEvent, eventType, key, value string, last bool) historyEvent {
	t.Helper()
	var found *historyEvent
	for i, e := range events {
		if e.Type == eventType && eventData(t, e)[key] == value {
			found = &events[i]
			if !last {
				break
			}
		}
	}
	if found == nil {
		t.Fatalf("no %s event with %s %q in %d events", eventType, key, value, len(events))
	}
	return *found
}

func TestHistoryPaging(t *testing.T) {
	s := startServer(t, t.TempDir())
	id := playExample(t, s)
	all := s.fullHistory(t, id)
	p := s.project(t, id)
	if len(all) != p.Version {
		t.Fatalf("history has %d events, want the project's version %d", len(all), p.Version)
	}
	for i, e := range all {
		if e.StreamVersion != i || e.ProjectID != id {
			t.Fatalf("event %d has streamVersion %d of project %s, want %d of %s", i, e.StreamVersion, e.ProjectID, i, id)
		}
	}
	first := all[0]
	if first.Type != "ProjectStarted" || first.SchemaVersion != 1 || first.Actor.UserID != "anonymous" || first.Position == "" {
		t.Errorf("first event = %+v, want ProjectStarted v1 by anonymous with a position", first)
	}
	if first.OccurredAt.IsZero() || first.RecordedAt.IsZero() || first.CausationID == nil || first.CorrelationID == nil {
		t.Errorf("first event lacks times or ids: %+v", first)
	}

	var paged []historyEvent
	var after any
	for pages := 0; ; pages++ {
		page := s.history(t, id, map[string]any{"first": 20, "after": after})
		if page.TotalCount == nil || *page.TotalCount != len(all) {
			t.Fatalf("totalCount = %v, want %d", page.TotalCount, len(all))
		}
		if page.PageInfo.HasPreviousPage != (pages > 0) {
			t.Errorf("page %d: hasPreviousPage = %v", pages, page.PageInfo.HasPreviousPage)
		}
		if len(page.Nodes) != len(page.Edges) {
			t.Fatalf("page %d: %d nodes for %d edges", pages, len(page.Nodes), len(page.Edges))
		}
		for _, e := range page.Edges {
			if want := e.Node.StreamVersion; e.Cursor != jsonString(want) {
				t.Errorf("cursor %q of event %d, want its streamVersion", e.Cursor, want)
			}
			paged = append(paged, e.Node)
		}
		if !page.PageInfo.HasNextPage {
			break
		}
		if len(page.Edges) != 20 {
			t.Fatalf("page %d has %d events and a next page, want 20", pages, len(page.Edges))
		}
		after = *page.PageInfo.EndCursor
	}
	if jsonString(paged) != jsonString(all) {
		t.Errorf("pages of 20 returned %d events, unlike the %d of one page", len(paged), len(all))
	}

	// Secrets are masked in the data, as in the project view.
	login := findEvent(t, all, "AnswerSubmitted", "questionId", "platform-login", false)
	if v := eventData(t, login)["value"]; v != "••••tery" {
		t.Errorf("platform-login value in history = %v, want ••••tery", v)
	}
}

func TestHistoryFilters(t *testing.T) {
	s := startServer(t, t.TempDir())
	id := playExample(t, s)
	all := s.fullHistory(t, id)

	completed := s.history(t, id, map[string]any{"filter": map[string]any{"types": []string{"StepCompleted"}}})
	if *completed.TotalCount != 15 || len(completed.Edges) != 15 {
		t.Errorf("StepCompleted events = %d of total %d, want 15", len(completed.Edges), *completed.TotalCount)
	}
	for _, e := range completed.Edges {
		if e.Node.Type != "StepCompleted" {
			t.Errorf("type filter returned a %s event", e.Node.Type)
		}
	}

	twoTypes := s.history(t, id, map[string]any{"filter": map[string]any{"types": []string{"WaitingOnCustomerMarked", "WorkResumed"}}})
	if len(twoTypes.Edges) != 2 || twoTypes.Edges[0].Node.Type != "WaitingOnCustomerMarked" {
		t.Errorf("wait events = %+v, want the wait and its end", twoTypes.Edges)
	}

	orderTesting := s.history(t, id, map[string]any{"filter": map[string]any{"stepId": "order-testing"}})
	if len(orderTesting.Edges) != 5 {
		t.Errorf("order-testing events = %d, want 3 test runs, the completion and the logged time", len(orderTesting.Edges))
	}

	// from is inclusive and to exclusive, on occurredAt.
	from, to := all[10], all[20]
	window := s.history(t, id, map[string]any{"filter": map[string]any{"from": from.OccurredAt, "to": to.OccurredAt}})
	for _, e := range window.Edges {
		if e.Node.OccurredAt.Before(from.OccurredAt) || !e.Node.OccurredAt.Before(to.OccurredAt) {
			t.Errorf("event %d occurred at %s, outside [%s, %s)", e.Node.StreamVersion, e.Node.OccurredAt, from.OccurredAt, to.OccurredAt)
		}
	}
	want := 0
	for _, e := range all {
		if !e.OccurredAt.Before(from.OccurredAt) && e.OccurredAt.Before(to.OccurredAt) {
			want++
		}
	}
	if len(window.Edges) != want || window.Edges[0].Node.StreamVersion != from.StreamVersion {
		t.Errorf("time window returned %d events from %d, want %d from %d", len(window.Edges), window.Edges[0].Node.StreamVersion, want, from.StreamVersion)
	}

	// Paging within a filter continues after the cursor.
	page := s.history(t, id, map[string]any{"first": 5, "after": "30", "filter": map[string]any{"types": []string{"StepCompleted"}}})
	if !page.PageInfo.HasPreviousPage || page.Edges[0].Node.StreamVersion <= 30 {
		t.Errorf("filtered page after 30 starts at %d with hasPreviousPage %v", page.Edges[0].Node.StreamVersion, page.PageInfo.HasPreviousPage)
	}

	cases := []struct {
		name, code, mention string
		id                  string
		vars                map[string]any
	}{
		{"unknown project", "NOT_FOUND", "7d3c7f0e", "7d3c7f0e-0000-4000-8000-000000000000", nil},
		{"first too large", "BAD_USER_INPUT", "501", id, map[string]any{"first": 501}},
		{"first negative", "BAD_USER_INPUT", "-1", id, map[string]any{"first": -1}},
		{"bad cursor", "BAD_USER_INPUT", "abc", id, map[string]any{"after": "abc"}},
		{"unknown type", "BAD_USER_INPUT", "StepDone", id, map[string]any{"filter": map[string]any{"types": []string{"StepDone"}}}},
		{"to before from", "BAD_USER_INPUT", "before from", id, map[string]any{"filter": map[string]any{"from": to.OccurredAt, "to": from.OccurredAt}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]any{"id": tc.id}
			for k, v := range tc.vars {
				vars[k] = v
			}
			res := s.do(t, historyQuery, vars)
			if res.code() != tc.code {
				t.Fatalf("code = %q, want %q; errors %+v", res.code(), tc.code, res.Errors)
			}
			if !strings.Contains(res.Errors[0].Message, tc.mention) {
				t.Errorf("message %q does not mention %q", res.Errors[0].Message, tc.mention)
			}
		})
	}
}

// flowsAnswers selects the answers of the flows step of a project.
const flowsAnswers = `step(id: "flows") { questions { key answer { value version submittedBy submittedAt } } }`

type flowsStep struct {
	Questions []struct {
		Key    string
		Answer *struct {
			Value       string
			Version     int
			SubmittedBy string
			SubmittedAt time.Time
		}
	}
}

// stockMaster returns the answer to stock-master in the flows step.
func (f flowsStep) stockMaster(t *testing.T) (value, by string, version int, at time.Time) {
	t.Helper()
	for _, q := range f.Questions {
		if q.Key == "stock-master" && q.Answer != nil {
			return q.Answer.Value, q.Answer.SubmittedBy, q.Answer.Version, q.Answer.SubmittedAt
		}
	}
	t.Fatalf("flows step has no answer to stock-master: %+v", f)
	return "", "", 0, time.Time{}
}

// TestStockMasterAtOrderFlow answers: which answer about the stock master
// was in force when the order-flow step was completed, and who gave it?
func TestStockMasterAtOrderFlow(t *testing.T) {
	s := startServer(t, t.TempDir())
	id := playExample(t, s)
	all := s.fullHistory(t, id)
	revision := findEvent(t, all, "AnswerSubmitted", "questionId", "stock-master", true)
	if eventData(t, revision)["value"] != "fortnox" {
		t.Fatalf("last stock-master answer = %s, want the revision to fortnox", revision.Data)
	}

	// In two steps: find the completion in history, then read the project
	// as of the version right after it.
	completions := s.history(t, id, map[string]any{"filter": map[string]any{"types": []string{"StepCompleted"}}})
	var orderFlow *historyEvent
	for _, e := range completions.Edges {
		if eventData(t, e.Node)["stepId"] == "order-flow" {
			orderFlow = &e.Node
		}
	}
	if orderFlow == nil {
		t.Fatalf("no StepCompleted of order-flow among %d completions", len(completions.Edges))
	}
	var asOf struct {
		Version int
		Step    flowsStep
	}
	s.must(t, `query($id: ID!, $version: Int!) { project(id: $id, asOf: {version: $version}) { version `+flowsAnswers+` } }`,
		map[string]any{"id": id, "version": orderFlow.StreamVersion + 1}, "project", &asOf)
	if asOf.Version != orderFlow.StreamVersion+1 {
		t.Errorf("project as of version %d has version %d", orderFlow.StreamVersion+1, asOf.Version)
	}
	value, by, version, at := asOf.Step.stockMaster(t)
	if value != "fortnox" || by != "anonymous" || version != revision.StreamVersion+1 || !at.Equal(revision.OccurredAt) {
		t.Errorf("stock master at order-flow = %s by %s at version %d, %s; want fortnox by anonymous at version %d, %s",
			value, by, version, at, revision.StreamVersion+1, revision.OccurredAt)
	}

	// In one query: the completion with the project right after it.
	var one struct {
		Edges []struct {
			Node         historyEvent
			ProjectAfter struct{ Step flowsStep }
		}
	}
	s.must(t, `query($id: ID!) {
	  history(projectId: $id, filter: {types: ["StepCompleted"], stepId: "order-flow"}) {
	    edges { node { streamVersion occurredAt actor { userId } data } projectAfter { `+flowsAnswers+` } }
	  }
	}`, map[string]any{"id": id}, "history", &one)
	if len(one.Edges) != 1 || one.Edges[0].Node.StreamVersion != orderFlow.StreamVersion {
		t.Fatalf("one query found %+v, want the completion at %d", one.Edges, orderFlow.StreamVersion)
	}
	value, by, version, at = one.Edges[0].ProjectAfter.Step.stockMaster(t)
	if value != "fortnox" || by != "anonymous" || version != revision.StreamVersion+1 || !at.Equal(revision.OccurredAt) {
		t.Errorf("one query: stock master = %s by %s at version %d, %s; want the revision to fortnox", value, by, version, at)
	}

	// Right before the revision, the first answer was in force.
	var before struct{ Step flowsStep }
	s.must(t, `query($id: ID!, $version: Int!) { project(id: $id, asOf: {version: $version}) { `+flowsAnswers+` } }`,
		map[string]any{"id": id, "version": revision.StreamVersion}, "project", &before)
	if value, _, _, _ := before.Step.stockMaster(t); value != "webshop" {
		t.Errorf("stock master before the revision = %s, want webshop", value)
	}
}

func TestCorrelationIDInHistory(t *testing.T) {
	s := startServer(t, t.TempDir())
	id := s.startProject(t, "acme")
	logTime := func(header http.Header) {
		t.Helper()
		body := []byte(jsonString(map[string]any{
			"query":     `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 1, description: "call"}) { project { version } } }`,
			"variables": map[string]any{"id": id},
		}))
		if res := s.post(t, body, header); len(res.Errors) > 0 {
			t.Fatalf("logTime with %v failed: %+v", header, res.Errors)
		}
	}
	logTime(http.Header{"X-Request-Id": {"audit-req-1"}})
	logTime(http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	logTime(nil)

	events := s.history(t, id, map[string]any{"filter": map[string]any{"types": []string{"TimeLogged"}}}).Edges
	if len(events) != 3 {
		t.Fatalf("TimeLogged events = %d, want 3", len(events))
	}
	want := []string{"audit-req-1", "4bf92f3577b34da6a3ce929d0e0e4736"}
	for i, w := range want {
		if got := events[i].Node.CorrelationID; got == nil || *got != w {
			t.Errorf("correlationId of event %d = %v, want %s", i, got, w)
		}
	}
	if got := events[2].Node.CorrelationID; got == nil || *got == "" {
		t.Errorf("correlationId without a header = %v, want a generated id", got)
	}
	if a, b := events[0].Node.CausationID, events[1].Node.CausationID; a == nil || b == nil || *a == *b {
		t.Errorf("causationIds %v and %v, want one per command", a, b)
	}
}

// auditLog returns every event the filter selects, read in pages of size
// first, and the number of pages.
func (s *testServer) auditLog(t *testing.T, filter map[string]any, first int) ([]historyEvent, int) {
	t.Helper()
	var events []historyEvent
	var after any
	for pages := 1; ; pages++ {
		var page eventPageView
		s.must(t, auditLogQuery, map[string]any{"filter": filter, "first": first, "after": after}, "auditLog", &page)
		if page.TotalCount != nil {
			t.Errorf("auditLog totalCount = %d, want null", *page.TotalCount)
		}
		if len(page.Edges) > first {
			t.Fatalf("page %d has %d events, more than first %d", pages, len(page.Edges), first)
		}
		for _, e := range page.Edges {
			if e.Cursor != e.Node.Position {
				t.Errorf("cursor %q of event %s, want its position %q", e.Cursor, e.Node.ID, e.Node.Position)
			}
			events = append(events, e.Node)
		}
		if !page.PageInfo.HasNextPage {
			return events, pages
		}
		after = *page.PageInfo.EndCursor
	}
}

func TestAuditLogAcrossProjects(t *testing.T) {
	s := startServer(t, t.TempDir())
	start := time.Now().UTC()
	acme := s.startProject(t, "acme")
	globex := s.startProject(t, "globex")
	for _, id := range []string{acme, globex, acme} {
		s.must(t, `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 1, description: "call"}) { project { version } } }`,
			map[string]any{"id": id}, "", nil)
	}
	middle := time.Now().UTC()
	s.must(t, `mutation($id: ID!) { markWaitingOnCustomer(input: {projectId: $id, reason: "API key"}) { project { version } } }`,
		map[string]any{"id": globex}, "", nil)
	initech := s.startProject(t, "initech")

	all, _ := s.auditLog(t, nil, 50)
	wantOrder := []struct{ project, eventType string }{
		{acme, "ProjectStarted"}, {globex, "ProjectStarted"}, {acme, "TimeLogged"}, {globex, "TimeLogged"},
		{acme, "TimeLogged"}, {globex, "WaitingOnCustomerMarked"}, {initech, "ProjectStarted"},
	}
	if len(all) != len(wantOrder) {
		t.Fatalf("audit log has %d events, want %d", len(all), len(wantOrder))
	}
	for i, w := range wantOrder {
		if all[i].ProjectID != w.project || all[i].Type != w.eventType {
			t.Errorf("event %d = %s of %s, want %s of %s", i, all[i].Type, all[i].ProjectID, w.eventType, w.project)
		}
	}

	paged, pages := s.auditLog(t, nil, 2)
	if jsonString(paged) != jsonString(all) || pages != 4 {
		t.Errorf("pages of 2 returned %d events in %d pages, want the %d events of one page in 4", len(paged), pages, len(all))
	}

	cases := []struct {
		name   string
		filter map[string]any
		want   []int
	}{
		{"project", map[string]any{"projectId": acme}, []int{0, 2, 4}},
		{"type", map[string]any{"types": []string{"ProjectStarted"}}, []int{0, 1, 6}},
		{"project and type", map[string]any{"projectId": globex, "types": []string{"TimeLogged", "WaitingOnCustomerMarked"}}, []int{3, 5}},
		{"actor", map[string]any{"actor": "anonymous"}, []int{0, 1, 2, 3, 4, 5, 6}},
		{"other actor", map[string]any{"actor": "auditor"}, nil},
		{"from", map[string]any{"from": middle}, []int{5, 6}},
		{"to", map[string]any{"from": start, "to": middle}, []int{0, 1, 2, 3, 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := s.auditLog(t, tc.filter, 1)
			var wantIDs, gotIDs []string
			for _, i := range tc.want {
				wantIDs = append(wantIDs, all[i].ID)
			}
			for _, e := range got {
				gotIDs = append(gotIDs, e.ID)
			}
			if strings.Join(gotIDs, ",") != strings.Join(wantIDs, ",") {
				t.Errorf("events = %v, want %v", gotIDs, wantIDs)
			}
		})
	}

	// The project after each event comes from one replay per project.
	var withProjects struct {
		Edges []struct {
			Node         struct{ ProjectID string }
			ProjectAfter struct {
				ID          string
				Version     int
				LoggedHours float64
			}
		}
	}
	s.must(t, `{ auditLog(filter: {types: ["TimeLogged"]}) { edges { node { projectId } projectAfter { id version loggedHours } } } }`, nil, "auditLog", &withProjects)
	wantHours := []float64{1, 1, 2}
	for i, e := range withProjects.Edges {
		if e.ProjectAfter.ID != e.Node.ProjectID || e.ProjectAfter.LoggedHours != wantHours[i] {
			t.Errorf("edge %d: project after = %+v, want %s with %v hours", i, e.ProjectAfter, e.Node.ProjectID, wantHours[i])
		}
	}

	for _, tc := range []struct{ name, query, mention string }{
		{"bad cursor", `{ auditLog(after: "abc") { totalCount } }`, "abc"},
		{"first too large", `{ auditLog(first: 501) { totalCount } }`, "501"},
		{"unknown type", `{ auditLog(filter: {types: ["Deleted"]}) { totalCount } }`, "Deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, tc.query, nil)
			if res.code() != "BAD_USER_INPUT" || !strings.Contains(res.Errors[0].Message, tc.mention) {
				t.Errorf("errors = %+v, want BAD_USER_INPUT naming %q", res.Errors, tc.mention)
			}
		})
	}
}

func TestProjectAsOf(t *testing.T) {
	s := startServer(t, t.TempDir())
	id := playExample(t, s)
	all := s.fullHistory(t, id)
	live := s.project(t, id)

	asOfQuery := strings.Replace(projectQuery, "project(id: $id)", "project(id: $id, asOf: $asOf)", 1)
	asOfQuery = strings.Replace(asOfQuery, "query($id: ID!)", "query($id: ID!, $asOf: AsOfInput)", 1)
	projectAsOf := func(asOf map[string]any) projectView {
		t.Helper()
		var p projectView
		s.must(t, asOfQuery, map[string]any{"id": id, "asOf": asOf}, "project", &p)
		return p
	}

	if got := projectAsOf(map[string]any{"version": live.Version}); jsonString(got) != jsonString(live) {
		t.Errorf("project as of its current version:\n%s\nlive view:\n%s", jsonString(got), jsonString(live))
	}
	if got := projectAsOf(map[string]any{"time": time.Now().UTC()}); jsonString(got) != jsonString(live) {
		t.Errorf("project as of now differs from the live view")
	}

	// Right after the wait for the Fortnox key was marked.
	wait := findEvent(t, all, "WaitingOnCustomerMarked", "reason", "Waiting for the Fortnox API key from the bookkeeper", false)
	byVersion := projectAsOf(map[string]any{"version": wait.StreamVersion + 1})
	if byVersion.Version != wait.StreamVersion+1 || byVersion.Status != "ACTIVE" || byVersion.ReadyForConfiguration || len(byVersion.Contacts) != 2 {
		t.Errorf("project as of version %d = %+v, want an active project with two contacts and missing answers", wait.StreamVersion+1, byVersion)
	}
	if byVersion.Questionnaire.Answered >= live.Questionnaire.Answered {
		t.Errorf("answered %d of the questionnaire as of the wait, want fewer than the final %d", byVersion.Questionnaire.Answered, live.Questionnaire.Answered)
	}
	// Each mutation of the example stores one event, so the time of an
	// event selects the same point as its version.
	byTime := projectAsOf(map[string]any{"time": wait.OccurredAt})
	if jsonString(byTime) != jsonString(byVersion) {
		t.Errorf("project as of %s:\n%s\nas of version %d:\n%s", wait.OccurredAt.Format(time.RFC3339Nano), jsonString(byTime), wait.StreamVersion+1, jsonString(byVersion))
	}

	started := projectAsOf(map[string]any{"version": 1})
	if started.Version != 1 || len(started.Contacts) != 0 || started.LoggedHours != 0 {
		t.Errorf("project as of version 1 = %+v, want the started project", started)
	}

	var missing json.RawMessage
	s.must(t, `{ project(id: "7d3c7f0e-0000-4000-8000-000000000000", asOf: {version: 1}) { id } }`, nil, "project", &missing)
	if string(missing) != "null" {
		t.Errorf("unknown project as of version 1 = %s, want null", missing)
	}

	startedAt := all[0].OccurredAt.Format(time.RFC3339Nano)
	cases := []struct {
		name    string
		asOf    map[string]any
		mention []string
	}{
		{"both", map[string]any{"version": 3, "time": all[3].OccurredAt}, []string{"version", "time"}},
		{"neither", map[string]any{}, []string{"version", "time"}},
		{"version zero", map[string]any{"version": 0}, []string{"asOf.version 0"}},
		{"beyond the end", map[string]any{"version": live.Version + 1}, []string{"after the last version " + jsonString(live.Version)}},
		{"before the start", map[string]any{"time": all[0].OccurredAt.Add(-time.Second)}, []string{startedAt}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, asOfQuery, map[string]any{"id": id, "asOf": tc.asOf})
			if res.code() != "BAD_USER_INPUT" {
				t.Fatalf("code = %q, want BAD_USER_INPUT; errors %+v", res.code(), res.Errors)
			}
			for _, m := range tc.mention {
				if !strings.Contains(res.Errors[0].Message, m) {
					t.Errorf("message %q does not mention %q", res.Errors[0].Message, m)
				}
			}
		})
	}
}

const diffQuery = `query($id: ID!, $from: AsOfInput!, $to: AsOfInput!) {
  projectDiff(id: $id, from: $from, to: $to) {
    projectId fromVersion toVersion
    answers { questionKey questionId systemId oldValue newValue event { type streamVersion actor { userId } occurredAt } }
    stepsCompleted { stepId reason event { streamVersion } }
    stepsReopened { stepId reason }
    testsRun { stepId testId passed notes event { streamVersion } }
    timeLogged { hours description stepId }
    contactsAdded { contact { name role } event { type } }
    contactsRemoved { contact { name } }
    waitingMarked { reason }
    workResumed { reason }
    statusChanges { from to reason event { type } }
  }
}`

type diffView struct {
	ProjectID              string
	FromVersion, ToVersion int
	Answers                []struct {
		QuestionKey, QuestionID string
		SystemID, OldValue      *string
		NewValue                string
		Event                   historyEvent
	}
	StepsCompleted []struct {
		StepID string
		Reason *string
		Event  historyEvent
	}
	StepsReopened []struct{ StepID string }
	TestsRun      []struct {
		StepID, TestID string
		Passed         bool
		Notes          *string
	}
	TimeLogged []struct {
		Hours       float64
		Description string
	}
	ContactsAdded []struct {
		Contact struct{ Name, Role string }
		Event   historyEvent
	}
	ContactsRemoved []struct{ Contact struct{ Name string } }
	WaitingMarked   []struct{ Reason string }
	WorkResumed     []struct{ Reason string }
	StatusChanges   []struct {
		From, To string
		Reason   *string
		Event    historyEvent
	}
}

func TestProjectDiffExample(t *testing.T) {
	s := startServer(t, t.TempDir())
	id := playExample(t, s)
	all := s.fullHistory(t, id)
	version := func(v int) map[string]any { return map[string]any{"version": v} }

	// From right after the first stock-master answer to the completion of
	// flows: the revision, sync-stock and the completion.
	first := findEvent(t, all, "AnswerSubmitted", "questionId", "stock-master", false)
	flows := findEvent(t, all, "StepCompleted", "stepId", "flows", false)
	var d diffView
	s.must(t, diffQuery, map[string]any{"id": id, "from": version(first.StreamVersion + 1), "to": version(flows.StreamVersion + 1)}, "projectDiff", &d)
	if d.FromVersion != first.StreamVersion+1 || d.ToVersion != flows.StreamVersion+1 {
		t.Errorf("diff from %d to %d, want %d to %d", d.FromVersion, d.ToVersion, first.StreamVersion+1, flows.StreamVersion+1)
	}
	if len(d.Answers) != 2 {
		t.Fatalf("answers = %+v, want sync-stock and the stock-master revision", d.Answers)
	}
	sync, revision := d.Answers[0], d.Answers[1]
	if sync.QuestionKey != "sync-stock" || sync.OldValue != nil || sync.NewValue != "true" {
		t.Errorf("first change = %+v, want the first answer true to sync-stock", sync)
	}
	if revision.QuestionKey != "stock-master" || revision.OldValue == nil || *revision.OldValue != "webshop" || revision.NewValue != "fortnox" {
		t.Errorf("second change = %+v, want stock-master from webshop to fortnox", revision)
	}
	if revision.Event.Type != "AnswerSubmitted" || revision.Event.Actor.UserID != "anonymous" || revision.Event.OccurredAt.IsZero() {
		t.Errorf("event of the revision = %+v, want an AnswerSubmitted by anonymous", revision.Event)
	}
	if len(d.StepsCompleted) != 1 || d.StepsCompleted[0].StepID != "flows" || d.StepsCompleted[0].Event.StreamVersion != flows.StreamVersion || d.StepsCompleted[0].Reason != nil {
		t.Errorf("steps completed = %+v, want flows", d.StepsCompleted)
	}
	if n := len(d.TestsRun) + len(d.TimeLogged) + len(d.ContactsAdded) + len(d.WaitingMarked) + len(d.StatusChanges); n != 0 {
		t.Errorf("diff has %d other changes, want none", n)
	}

	// The whole run, from the start to the completion.
	var whole diffView
	s.must(t, diffQuery, map[string]any{"id": id, "from": version(1), "to": map[string]any{"time": time.Now().UTC()}}, "projectDiff", &whole)
	if whole.ToVersion != len(all) || len(whole.StepsCompleted) != 15 || len(whole.StepsReopened) != 0 {
		t.Errorf("whole run to version %d: %d steps completed, %d reopened; want %d, 15, 0", whole.ToVersion, len(whole.StepsCompleted), len(whole.StepsReopened), len(all))
	}
	if len(whole.ContactsAdded) != 2 || whole.ContactsAdded[1].Contact.Role != "Bookkeeping and VAT" || whole.ContactsAdded[0].Event.Type != "ContactAdded" || len(whole.ContactsRemoved) != 0 {
		t.Errorf("contacts added %+v, removed %+v; want owner and bookkeeper added", whole.ContactsAdded, whole.ContactsRemoved)
	}
	if len(whole.TestsRun) != 4 || whole.TestsRun[0].Passed || *whole.TestsRun[0].Notes != "Shipping VAT booked on the wrong account" || !whole.TestsRun[1].Passed {
		t.Errorf("tests run = %+v, want the failed and the passed joint test run first", whole.TestsRun)
	}
	hours := 0.0
	for _, tl := range whole.TimeLogged {
		hours += tl.Hours
	}
	if len(whole.TimeLogged) != 3 || hours != 17.5 {
		t.Errorf("time logged = %+v, want 3 entries of 17.5 hours in all", whole.TimeLogged)
	}
	reason := "Waiting for the Fortnox API key from the bookkeeper"
	if len(whole.WaitingMarked) != 1 || whole.WaitingMarked[0].Reason != reason || len(whole.WorkResumed) != 1 || whole.WorkResumed[0].Reason != reason {
		t.Errorf("waiting marked %+v, resumed %+v; want the Fortnox key wait and its end", whole.WaitingMarked, whole.WorkResumed)
	}
	if len(whole.StatusChanges) != 1 || whole.StatusChanges[0].From != "ACTIVE" || whole.StatusChanges[0].To != "COMPLETED" || whole.StatusChanges[0].Event.Type != "ProjectCompleted" {
		t.Errorf("status changes = %+v, want active to completed", whole.StatusChanges)
	}
	for _, a := range whole.Answers {
		if a.QuestionID == "platform-login" && a.NewValue != "••••tery" {
			t.Errorf("platform-login in the diff = %q, want it masked", a.NewValue)
		}
		if a.QuestionKey == "api-credentials@fortnox" && (a.SystemID == nil || *a.SystemID != "fortnox") {
			t.Errorf("api-credentials@fortnox has systemId %v, want fortnox", a.SystemID)
		}
	}

	cases := []struct {
		name, code, mention string
		id                  string
		from, to            map[string]any
	}{
		{"from after to", "BAD_USER_INPUT", "after to", id, version(10), version(5)},
		{"from beyond the end", "BAD_USER_INPUT", "after the last version", id, version(len(all) + 1), version(len(all))},
		{"to without a point", "BAD_USER_INPUT", "exactly one", id, version(1), map[string]any{}},
		{"unknown project", "NOT_FOUND", "7d3c7f0e", "7d3c7f0e-0000-4000-8000-000000000000", version(1), version(2)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, diffQuery, map[string]any{"id": tc.id, "from": tc.from, "to": tc.to})
			if res.code() != tc.code {
				t.Fatalf("code = %q, want %q; errors %+v", res.code(), tc.code, res.Errors)
			}
			if !strings.Contains(res.Errors[0].Message, tc.mention) {
				t.Errorf("message %q does not mention %q", res.Errors[0].Message, tc.mention)
			}
		})
	}
}

const verifyQuery = `{ verifyProjections { ok projects events skippedEvents position truncated differences { projectId field live rebuilt } } }`

type verificationView struct {
	Ok                              bool
	Projects, Events, SkippedEvents int
	Position                        *string
	Truncated                       bool
	Differences                     []struct{ ProjectID, Field string }
}

func TestVerifyProjectionsQuery(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	var empty verificationView
	s.must(t, verifyQuery, nil, "verifyProjections", &empty)
	if !empty.Ok || empty.Projects != 0 || empty.Events != 0 || empty.Position != nil {
		t.Errorf("report on an empty store = %+v, want ok with nothing read", empty)
	}

	id := playExample(t, s)
	s.startProject(t, "acme")
	events := len(s.fullHistory(t, id)) + 1
	check := func(s *testServer) {
		t.Helper()
		var report verificationView
		s.must(t, verifyQuery, nil, "verifyProjections", &report)
		if !report.Ok || len(report.Differences) != 0 || report.Truncated {
			t.Errorf("report = %+v, want ok without differences", report)
		}
		if report.Projects != 2 || report.Events != events || report.SkippedEvents != 0 || report.Position == nil {
			t.Errorf("report counts %d projects and %d events, want 2 and %d", report.Projects, report.Events, events)
		}
	}
	check(s)

	s.stop(t)
	check(startServer(t, dir))
}
