package command_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/integrationplatform/onboarding/command"
	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
)

func TestExecuteStartGeneratesID(t *testing.T) {
	store, p := newTestProcess(t)

	first := p.execute(t, command.Request{Command: hostedStart("customer-1")})
	second := p.execute(t, command.Request{Command: hostedStart("customer-1")})

	for _, res := range []command.Result{first, second} {
		if _, err := uuid.Parse(res.ProjectID); err != nil {
			t.Errorf("project id %q is not a UUID: %v", res.ProjectID, err)
		}
		if res.Version != 1 || res.Events != 1 {
			t.Errorf("project %s: version %d with %d events, expected version 1 with 1 event", res.ProjectID, res.Version, res.Events)
		}
		if n := streamLength(t, store, res.ProjectID); n != 1 {
			t.Errorf("project %s: %d events stored, expected 1", res.ProjectID, n)
		}
		if v := p.view(t, res.ProjectID); v.CustomerID != "customer-1" || v.StartedBy != actor.UserID {
			t.Errorf("project %s: customer %q started by %q, expected customer-1 started by %s", res.ProjectID, v.CustomerID, v.StartedBy, actor.UserID)
		}
	}
	if first.ProjectID == second.ProjectID {
		t.Errorf("two starts without idempotency key got the same project id %s", first.ProjectID)
	}
}

func TestExecuteStartIdempotencyKey(t *testing.T) {
	store := openStore(t)
	p := newProcess(t, store, store)
	req := command.Request{Command: hostedStart("customer-1"), IdempotencyKey: "start-customer-1"}
	first := p.execute(t, req)

	cases := []struct {
		name    string
		process *process
	}{
		{"same handler", p},
		{"restarted process", newProcess(t, store, store)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			again := c.process.execute(t, req)

			if again.ProjectID != first.ProjectID {
				t.Errorf("repeated key gave project %s, expected the first project %s", again.ProjectID, first.ProjectID)
			}
			if again.Events != 0 {
				t.Errorf("repeated key reported %d new events, expected 0", again.Events)
			}
			if again.Version != 1 {
				t.Errorf("repeated key gave version %d, expected 1", again.Version)
			}
			if n := projectCount(t, c.process.models); n != 1 {
				t.Errorf("models show %d projects, expected 1", n)
			}
			if n := streamLength(t, store, first.ProjectID); n != 1 {
				t.Errorf("%d events stored, expected 1", n)
			}
		})
	}

	other := p.execute(t, command.Request{Command: hostedStart("customer-1"), IdempotencyKey: "start-customer-1-again"})
	if other.ProjectID == first.ProjectID {
		t.Errorf("a different key gave the same project %s", other.ProjectID)
	}
}

// Execute returns only after the read models show the command's events.
func TestExecuteReadYourWrites(t *testing.T) {
	_, p := newTestProcess(t)
	id := p.start(t, "customer-1")
	cmds := []domain.Command{
		domain.AddContact{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se"},
		domain.SubmitAnswer{QuestionID: "unique-sku", Value: "yes"},
		domain.LogTime{Hours: 1.5, Description: "kickoff"},
		domain.MarkWaitingOnCustomer{Reason: "questionnaire not returned"},
		domain.ResumeWork{},
		domain.SubmitAnswer{QuestionID: "unique-sku", Value: "no"},
	}
	for i, cmd := range cmds {
		t.Run(fmt.Sprintf("%d %s", i+1, domain.CommandName(cmd)), func(t *testing.T) {
			res := p.execute(t, command.Request{ProjectID: id, Command: cmd})

			if res.Version != i+2 || res.Events != 1 {
				t.Errorf("version %d with %d events, expected version %d with 1 event", res.Version, res.Events, i+2)
			}
			if v := p.view(t, id); v.Version != res.Version {
				t.Errorf("view version = %d right after Execute returned version %d", v.Version, res.Version)
			}
			if pos := p.models.Position(); pos.Less(res.Position) {
				t.Errorf("models at %s right after Execute returned position %s", pos, res.Position)
			}
		})
	}
}

func TestExecuteExpectedVersion(t *testing.T) {
	_, p := newTestProcess(t)
	id := p.start(t, "customer-1")
	p.execute(t, command.Request{ProjectID: id, Command: domain.LogTime{Hours: 1, Description: "kickoff"}})

	cases := []struct {
		name     string
		expected int
	}{
		{"behind", 1},
		{"ahead", 3},
		{"zero", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := p.try(command.Request{ProjectID: id, Command: domain.LogTime{Hours: 1, Description: "stale"}, ExpectedVersion: &c.expected})

			var conflict *command.ConflictError
			if !errors.As(err, &conflict) {
				t.Fatalf("error = %v (%T), expected a *command.ConflictError", err, err)
			}
			if conflict.Current != 2 || conflict.Expected != c.expected || conflict.ProjectID != id {
				t.Errorf("conflict = %+v, expected project %s at current version 2, expected %d", *conflict, id, c.expected)
			}
		})
	}

	current := 2
	res := p.execute(t, command.Request{ProjectID: id, Command: domain.LogTime{Hours: 1, Description: "current"}, ExpectedVersion: &current})
	if res.Version != 3 {
		t.Errorf("version = %d after a command at the expected version, expected 3", res.Version)
	}
	if v := p.view(t, id); v.LoggedHours != 2 {
		t.Errorf("logged hours = %v, expected 2 because the conflicting commands stored nothing", v.LoggedHours)
	}
}

func TestExecuteNoOpAnswer(t *testing.T) {
	store, p := newTestProcess(t)
	id := p.start(t, "customer-1")
	first := p.execute(t, command.Request{ProjectID: id, Command: domain.SubmitAnswer{QuestionID: "order-document", Value: "ORDER"}})

	cases := []struct {
		name  string
		value string
	}{
		{"same value", "ORDER"},
		{"same value in another case", "order"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := p.execute(t, command.Request{ProjectID: id, Command: domain.SubmitAnswer{QuestionID: "order-document", Value: c.value}})

			if res.Events != 0 {
				t.Errorf("%d new events, expected 0", res.Events)
			}
			if res.Version != first.Version {
				t.Errorf("version = %d, expected it to stay %d", res.Version, first.Version)
			}
			if n := streamLength(t, store, id); n != first.Version {
				t.Errorf("%d events stored, expected %d", n, first.Version)
			}
		})
	}
}

// A repeated idempotency key returns the first result without appending,
// even when the command would now be rejected.
func TestExecuteRepeatedIdempotencyKey(t *testing.T) {
	store := openStore(t)
	p := newProcess(t, store, store)
	id := p.start(t, "customer-1")
	for _, answer := range []domain.SubmitAnswer{
		{QuestionID: "product-master", Value: "fortnox"}, {QuestionID: "price-master", Value: "fortnox"},
		{QuestionID: "stock-master", Value: "fortnox"}, {QuestionID: "sync-stock", Value: "yes"},
	} {
		p.execute(t, command.Request{ProjectID: id, Command: answer})
	}
	complete := command.Request{ProjectID: id, Command: domain.CompleteStep{StepID: "flows"}, IdempotencyKey: "complete-flows"}
	first := p.execute(t, complete)
	if _, err := p.try(command.Request{ProjectID: id, Command: domain.CompleteStep{StepID: "flows"}}); domain.KindOf(err) != domain.KindRuleViolation {
		t.Fatalf("second CompleteStep without key returned %v, expected a rule violation", err)
	}

	cases := []struct {
		name    string
		process *process
		req     command.Request
	}{
		{"same command", p, complete},
		{"same command after restart", newProcess(t, store, store), complete},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := c.process.try(c.req)

			if err != nil {
				t.Fatalf("repeated key returned %v, expected the first result", err)
			}
			if res.Events != 0 {
				t.Errorf("%d new events, expected 0", res.Events)
			}
			if res.Position != first.Position {
				t.Errorf("position = %s, expected the first result's position %s", res.Position, first.Position)
			}
			if n := streamLength(t, store, id); n != first.Version {
				t.Errorf("%d events stored, expected %d", n, first.Version)
			}
		})
	}
}

func TestExecuteDomainErrorsPassThrough(t *testing.T) {
	store, p := newTestProcess(t)
	id := p.start(t, "customer-1")
	cases := []struct {
		name      string
		projectID string
		cmd       domain.Command
		kind      domain.ErrorKind
		rule      string
		field     string
	}{
		{"hours out of range", id, domain.LogTime{Hours: 0, Description: "nothing"}, domain.KindInvalid, "", "hours"},
		{"unknown question", id, domain.SubmitAnswer{QuestionID: "no-such-question", Value: "x"}, domain.KindNotFound, "", "questionId"},
		{"step not ready", id, domain.CompleteStep{StepID: "flows"}, domain.KindRuleViolation, domain.RuleStepIncomplete, ""},
		{"step not applicable", id, domain.CompleteStep{StepID: "install-plugin"}, domain.KindRuleViolation, domain.RuleStepNotApplicable, ""},
		{"resume without wait", id, domain.ResumeWork{}, domain.KindRuleViolation, domain.RuleWaitingState, ""},
		{"project not started", uuid.NewString(), domain.LogTime{Hours: 1, Description: "work"}, domain.KindNotFound, "", "projectId"},
		{"invalid start", "", domain.StartProject{CustomerID: "customer-1", CustomerName: "Customer", Name: "No systems"}, domain.KindInvalid, "", "systems"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := p.try(command.Request{ProjectID: c.projectID, Command: c.cmd})

			de := domainError(t, err)
			if de.Kind != c.kind {
				t.Errorf("error kind = %s, expected %s (%v)", de.Kind, c.kind, err)
			}
			if de.Rule != c.rule {
				t.Errorf("error rule = %q, expected %q (%v)", de.Rule, c.rule, err)
			}
			if de.Field != c.field {
				t.Errorf("error field = %q, expected %q (%v)", de.Field, c.field, err)
			}
		})
	}
	if n := streamLength(t, store, id); n != 1 {
		t.Errorf("%d events stored after rejected commands, expected 1", n)
	}
}

func TestExecutePreviousProject(t *testing.T) {
	_, p := newTestProcess(t)
	earlier := p.start(t, "customer-1")
	cases := []struct {
		name     string
		customer string
		previous string
		kind     domain.ErrorKind
	}{
		{"unknown project", "customer-1", uuid.NewString(), domain.KindNotFound},
		{"malformed project id", "customer-1", "not-a-project", domain.KindNotFound},
		{"other customer", "customer-2", earlier, domain.KindInvalid},
		{"same customer", "customer-1", earlier, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := hostedStart(c.customer)
			start.PreviousProjectID = c.previous
			before := projectCount(t, p.models)

			res, err := p.try(command.Request{Command: start})

			if c.kind == "" {
				if err != nil {
					t.Fatalf("start with the customer's earlier project failed: %v", err)
				}
				if v := p.view(t, res.ProjectID); v.PreviousProjectID != earlier {
					t.Errorf("previous project = %q, expected %s", v.PreviousProjectID, earlier)
				}
				return
			}
			de := domainError(t, err)
			if de.Kind != c.kind {
				t.Errorf("error kind = %s, expected %s (%v)", de.Kind, c.kind, err)
			}
			if de.Field != "previousProjectId" {
				t.Errorf("error field = %q, expected previousProjectId", de.Field)
			}
			if n := projectCount(t, p.models); n != before {
				t.Errorf("%d projects after a rejected start, expected %d", n, before)
			}
		})
	}
}

func TestExecuteMalformedProjectID(t *testing.T) {
	_, p := newTestProcess(t)
	id := p.start(t, "customer-1")
	cases := []struct {
		name      string
		projectID string
	}{
		{"empty", ""},
		{"not a UUID", "project-1"},
		{"stream name", "project-" + id},
		{"UUID with suffix", id + "x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := p.try(command.Request{ProjectID: c.projectID, Command: domain.LogTime{Hours: 1, Description: "work"}})

			de := domainError(t, err)
			if de.Kind != domain.KindNotFound {
				t.Errorf("error kind = %s, expected %s (%v)", de.Kind, domain.KindNotFound, err)
			}
			if de.Field != "projectId" {
				t.Errorf("error field = %q, expected projectId", de.Field)
			}
		})
	}
}

// A key reused for a different request is rejected, so the caller does not
// take the first request's result for its own.
func TestExecuteKeyReusedForOtherRequest(t *testing.T) {
	store := openStore(t)
	p := newProcess(t, store, store)
	id := p.start(t, "customer-1")
	first := p.execute(t, command.Request{ProjectID: id, Command: domain.LogTime{Hours: 1, Description: "kick-off"}, IdempotencyKey: "log-1"})

	_, err := p.try(command.Request{ProjectID: id, Command: domain.LogTime{Hours: 2, Description: "other work"}, IdempotencyKey: "log-1"})

	var de *domain.Error
	if !errors.As(err, &de) || de.Kind != domain.KindInvalid || de.Field != "idempotencyKey" {
		t.Fatalf("reused key returned %v, expected an invalid idempotencyKey error", err)
	}
	if n := streamLength(t, store, id); n != first.Version {
		t.Errorf("%d events stored, expected %d", n, first.Version)
	}
}

// Every command's events extend their stream's hash chain.
func TestExecuteChainsEvents(t *testing.T) {
	store := openStore(t)
	p := newProcess(t, store, store)
	id := p.start(t, "customer-1")
	for range 3 {
		p.execute(t, command.Request{ProjectID: id, Command: domain.LogTime{Hours: 1, Description: "work"}})
	}
	// A second process continues the chain from what it reads.
	newProcess(t, store, store).execute(t, command.Request{ProjectID: id, Command: domain.LogTime{Hours: 2, Description: "more work"}})

	records, err := store.ReadStream(context.Background(), eventstore.StreamName(id), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	v := eventstore.NewChainVerifier()
	for _, r := range records {
		if err := v.Add(r); err != nil {
			t.Errorf("chain broken: %v", err)
		}
	}
	if v.Events != 5 {
		t.Errorf("checked %d events, want 5", v.Events)
	}
}
