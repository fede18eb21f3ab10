package command_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/integrationplatform/onboarding/command"
	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/readmodel"
)

// logConcurrently runs writers goroutines per handler that each log time
// count times on the project, without an expected version. Writer w logs
// 0.125 * (w%4 + 1) hours each time, a binary fraction, so that the sum
// is exact in any order. It returns every result and error.
func logConcurrently(processes []*process, projectID string, writers, count int) ([]command.Result, []error) {
	var mu sync.Mutex
	var results []command.Result
	var errs []error
	var wg sync.WaitGroup
	for pi, p := range processes {
		for w := range writers {
			wg.Go(func() {
				for i := range count {
					res, err := p.try(command.Request{ProjectID: projectID, Command: domain.LogTime{
						Hours: 0.25 * float64(w%4+1), Description: fmt.Sprintf("process %d writer %d entry %d", pi, w, i),
					}})
					mu.Lock()
					if err != nil {
						errs = append(errs, fmt.Errorf("process %d writer %d entry %d: %w", pi, w, i, err))
					} else {
						results = append(results, res)
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return results, errs
}

// expectedHours returns the hours that logConcurrently logs in total.
func expectedHours(processes, writers, count int) float64 {
	total := 0.0
	for w := range writers {
		total += 0.25 * float64(w%4+1)
	}
	return total * float64(processes*count)
}

// checkTimeEntries checks that the view holds every logged entry once, at
// versions 2 to total+1.
func checkTimeEntries(t *testing.T, v *readmodel.Project, total int) {
	t.Helper()
	descriptions := map[string]int{}
	versions := make([]int, 0, len(v.TimeEntries))
	for _, e := range v.TimeEntries {
		descriptions[e.Description]++
		versions = append(versions, e.Version)
	}
	if len(v.TimeEntries) != total {
		t.Errorf("%d time entries, expected %d", len(v.TimeEntries), total)
	}
	for d, n := range descriptions {
		if n != 1 {
			t.Errorf("time entry %q stored %d times, expected once", d, n)
		}
	}
	slices.Sort(versions)
	for i, version := range versions {
		if version != i+2 {
			t.Errorf("time entry versions %v are not 2 to %d", versions, total+1)
			break
		}
	}
}

func TestExecuteConcurrentOnOneProject(t *testing.T) {
	const writers, count = 16, 20
	store, p := newTestProcess(t)
	id := p.start(t, "customer-1")

	results, errs := logConcurrently([]*process{p}, id, writers, count)

	for _, err := range errs {
		t.Error(err)
	}
	versions := map[int]bool{}
	for _, res := range results {
		if res.Events != 1 {
			t.Errorf("result at version %d reports %d new events, expected 1", res.Version, res.Events)
		}
		if versions[res.Version] {
			t.Errorf("two commands returned version %d", res.Version)
		}
		versions[res.Version] = true
	}
	v := p.view(t, id)
	if v.Version != 1+writers*count {
		t.Errorf("version = %d, expected %d", v.Version, 1+writers*count)
	}
	if want := expectedHours(1, writers, count); v.LoggedHours != want {
		t.Errorf("logged hours = %v, expected %v", v.LoggedHours, want)
	}
	checkTimeEntries(t, v, writers*count)
	if n := streamLength(t, store, id); n != 1+writers*count {
		t.Errorf("%d events stored, expected %d", n, 1+writers*count)
	}
}

// Two handlers with their own caches and read models write to one project
// on a shared store, as two server processes would. Their appends conflict
// and are retried, and no entry is lost.
func TestExecuteTwoHandlersOneProject(t *testing.T) {
	const writers, count = 4, 15
	store := openStore(t)
	first := newProcess(t, store, store)
	second := newProcess(t, store, store)
	id := first.start(t, "customer-1")
	// The second process loads the project into its cache before the race.
	second.execute(t, command.Request{ProjectID: id, Command: domain.AddContact{ContactID: "c1", Name: "Anna Andersson", Email: "anna@example.se"}})

	results, errs := logConcurrently([]*process{first, second}, id, writers, count)

	for _, err := range errs {
		t.Error(err)
	}
	total := 2 * writers * count
	if len(results) != total {
		t.Errorf("%d commands succeeded, expected %d", len(results), total)
	}
	var last eventstore.Position
	for _, res := range results {
		if last.Less(res.Position) {
			last = res.Position
		}
	}
	for name, p := range map[string]*process{"first": first, "second": second} {
		waitModels(t, p.models, last)
		v := p.view(t, id)
		if v.Version != 2+total {
			t.Errorf("%s process: version = %d, expected %d", name, v.Version, 2+total)
		}
		if want := expectedHours(2, writers, count); v.LoggedHours != want {
			t.Errorf("%s process: logged hours = %v, expected %v", name, v.LoggedHours, want)
		}
	}
	if n := streamLength(t, store, id); n != 2+total {
		t.Errorf("%d events stored, expected %d", n, 2+total)
	}
}

// Another writer appends between the handler's read and its append, so the
// append conflicts. Without an expected version the handler reloads and
// retries, up to MaxConflictRetries times.
func TestExecuteRetriesAppendConflict(t *testing.T) {
	cases := []struct {
		name      string
		conflicts int
		succeeds  bool
	}{
		{"one conflict", 1, true},
		{"most retries", command.MaxConflictRetries, true},
		{"retries exhausted", command.MaxConflictRetries + 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := openStore(t)
			interleaved := &interleavedStore{Store: store}
			writer := newProcess(t, store, interleaved)
			other := newProcess(t, store, store)
			id := writer.start(t, "customer-1")
			interleaved.interleave(c.conflicts, func() {
				other.execute(t, command.Request{ProjectID: id, Command: domain.LogTime{Hours: 1, Description: "other process"}})
			})

			res, err := writer.try(command.Request{ProjectID: id, Command: domain.LogTime{Hours: 2, Description: "retried"}})

			if !c.succeeds {
				var conflict *eventstore.ConflictError
				if !errors.As(err, &conflict) {
					t.Fatalf("error = %v after %d conflicts, expected one wrapping *eventstore.ConflictError", err, c.conflicts)
				}
				if n := streamLength(t, store, id); n != 1+c.conflicts {
					t.Errorf("%d events stored, expected %d: the start and the other process's entries", n, 1+c.conflicts)
				}
				return
			}
			if err != nil {
				t.Fatalf("Execute failed after %d conflicts: %v", c.conflicts, err)
			}
			if want := 2 + c.conflicts; res.Version != want || res.Events != 1 {
				t.Errorf("version %d with %d events, expected version %d with 1 event", res.Version, res.Events, want)
			}
			v := writer.view(t, id)
			if v.Version != res.Version {
				t.Errorf("view version = %d, expected %d", v.Version, res.Version)
			}
			if want := 2 + float64(c.conflicts); v.LoggedHours != want {
				t.Errorf("logged hours = %v, expected %v", v.LoggedHours, want)
			}
			if last := v.TimeEntries[len(v.TimeEntries)-1]; last.Description != "retried" {
				t.Errorf("last time entry is %q, expected the retried one", last.Description)
			}
		})
	}
}

// With an expected version, a conflict at append time is not retried but
// reported with the version the other writer left.
func TestExecuteExpectedVersionAtAppend(t *testing.T) {
	store := openStore(t)
	interleaved := &interleavedStore{Store: store}
	writer := newProcess(t, store, interleaved)
	other := newProcess(t, store, store)
	id := writer.start(t, "customer-1")
	interleaved.interleave(1, func() {
		other.execute(t, command.Request{ProjectID: id, Command: domain.LogTime{Hours: 1, Description: "other process"}})
	})
	expected := 1

	_, err := writer.try(command.Request{ProjectID: id, Command: domain.LogTime{Hours: 2, Description: "stale"}, ExpectedVersion: &expected})

	var conflict *command.ConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("error = %v (%T), expected a *command.ConflictError", err, err)
	}
	if conflict.Expected != 1 || conflict.Current != 2 {
		t.Errorf("conflict = %+v, expected version 1 and current 2", *conflict)
	}
	if n := streamLength(t, store, id); n != 2 {
		t.Errorf("%d events stored, expected 2", n)
	}
	res := writer.execute(t, command.Request{ProjectID: id, Command: domain.LogTime{Hours: 2, Description: "reloaded"}, ExpectedVersion: &conflict.Current})
	if res.Version != 3 {
		t.Errorf("version = %d after retrying at the current version, expected 3", res.Version)
	}
}

// Two processes receive the same idempotency key with different answers,
// as when a client retries against another server with a changed value.
// The store keeps the first process's answer and returns its result to the
// second process. The second process's cache must then contain the stored
// answer, not its own, or it treats a later change to its own value as a
// no-op and the change is lost.
func TestExecuteSharedKeyAcrossProcesses(t *testing.T) {
	store := openStore(t)
	interleaved := &interleavedStore{Store: store}
	writer := newProcess(t, store, interleaved)
	other := newProcess(t, store, store)
	id := writer.start(t, "customer-1")
	interleaved.interleave(1, func() {
		other.execute(t, command.Request{ProjectID: id, IdempotencyKey: "answer-status", Command: domain.SubmitAnswer{QuestionID: "collect-order-status", Value: "completed"}})
	})
	if _, err := writer.try(command.Request{ProjectID: id, IdempotencyKey: "answer-status", Command: domain.SubmitAnswer{QuestionID: "collect-order-status", Value: "processing"}}); err != nil {
		t.Fatalf("Execute with the key the other process used failed: %v", err)
	}
	if got := currentAnswer(t, writer.view(t, id), "collect-order-status"); got != "completed" {
		t.Fatalf("answer = %q after the repeated key, expected the other process's %q", got, "completed")
	}

	res, err := writer.try(command.Request{ProjectID: id, Command: domain.SubmitAnswer{QuestionID: "collect-order-status", Value: "processing"}})

	if err != nil {
		t.Fatalf("Execute of the changed answer failed: %v", err)
	}
	if res.Events != 1 {
		t.Errorf("changing the stored answer %q to %q reported %d new events, expected 1", "completed", "processing", res.Events)
	}
	if got := currentAnswer(t, writer.view(t, id), "collect-order-status"); got != "processing" {
		t.Errorf("answer = %q after the change, expected %q", got, "processing")
	}
}

// currentAnswer returns the current answer to the question, or "" when it
// is unanswered.
func currentAnswer(t *testing.T, v *readmodel.Project, key string) string {
	t.Helper()
	for _, ph := range v.Phases {
		for _, st := range ph.Steps {
			for _, q := range st.Questions {
				if q.Key != key {
					continue
				}
				if q.Answer == nil {
					return ""
				}
				return q.Answer.Value
			}
		}
	}
	t.Fatalf("project view %s has no question with key %q", v.ID, key)
	return ""
}

// waitModels waits until the models have applied the event at pos.
func waitModels(t *testing.T, models *readmodel.Models, pos eventstore.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := models.WaitFor(ctx, pos); err != nil {
		t.Fatalf("WaitFor(%s) failed: %v", pos, err)
	}
}
