package graph

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/command"
	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/embedded"
	"github.com/integrationplatform/onboarding/keyring/keyringtest"
	"github.com/integrationplatform/onboarding/readmodel"
)

// testClock is the time every command of these tests is handled at, so
// that views built from two stores can be equal.
var testClock = func() time.Time { return time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC) }

// newAuditResolver returns a resolver on a new embedded store, with a
// projector that feeds its read models, as the server wires them.
func newAuditResolver(t *testing.T) *Resolver {
	t.Helper()
	dir := t.TempDir()
	store, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatalf("embedded.Open(%s) failed: %v", dir, err)
	}
	models := readmodel.NewModels()
	codec := keyringtest.Codec(t)
	projector := readmodel.NewProjector(store, codec, models, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- projector.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("projector stopped with %v", err)
		}
		if err := store.Close(); err != nil {
			t.Errorf("Close of the store in %s failed: %v", dir, err)
		}
	})
	<-projector.CaughtUp()
	return &Resolver{Commands: command.NewHandler(store, codec, models, zerolog.Nop(), testClock), Models: models, Store: store, Codec: codec, Log: zerolog.Nop()}
}

// execute runs commands on a project and fails the test on an error. A
// StartProject uses key as its idempotency key, so the same key starts a
// project with the same id in every store.
func execute(t *testing.T, r *Resolver, projectID, key string, cmds ...domain.Command) string {
	t.Helper()
	for _, cmd := range cmds {
		req := command.Request{ProjectID: projectID, Command: cmd, Actor: eventstore.Actor{UserID: "engineer-1"}}
		if _, ok := cmd.(domain.StartProject); ok {
			req.IdempotencyKey = key
		}
		res, err := r.Commands.Execute(context.Background(), req)
		if err != nil {
			t.Fatalf("%s on project %q failed: %v", domain.CommandName(cmd), projectID, err)
		}
		projectID = res.ProjectID
	}
	return projectID
}

func startCommand(customer string) domain.StartProject {
	return domain.StartProject{
		CustomerID: customer, CustomerName: customer + " AB", Name: "Onboarding of " + customer,
		Systems: []domain.SystemInput{{Name: "Shop", Platform: "SHOPIFY"}, {Name: "Fortnox", Platform: "FORTNOX"}},
	}
}

// startWithTime starts a project for the customer and logs time three
// times: four events in the log.
func startWithTime(t *testing.T, r *Resolver, customer string) string {
	t.Helper()
	id := execute(t, r, "", customer, startCommand(customer))
	for i := range 3 {
		execute(t, r, id, "", domain.LogTime{Hours: float64(i + 1), Description: "call"})
	}
	return id
}

func TestScanAllBound(t *testing.T) {
	r := newAuditResolver(t)
	ids := []string{startWithTime(t, r, "acme"), startWithTime(t, r, "globex"), startWithTime(t, r, "initech")}
	ctx := context.Background()
	starts := readmodel.EventFilter{Types: []string{domain.TypeProjectStarted}}

	// Each scan reads at most 5 of the 12 events and goes on from the last
	// one it read.
	var found []string
	position := eventstore.Start
	for scans := 1; ; scans++ {
		scan, err := r.scanAll(ctx, position, 10, starts, 5)
		if err != nil {
			t.Fatalf("scan %d failed: %v", scans, err)
		}
		for _, env := range scan.page {
			found = append(found, env.ProjectID)
		}
		if scan.hasNext {
			t.Errorf("scan %d found a match beyond a page of 10", scans)
		}
		if scan.exhausted {
			if scans != 3 {
				t.Errorf("log exhausted after %d scans, want 3", scans)
			}
			break
		}
		if want := (eventstore.Position{Commit: uint64(5 * scans), Prepare: uint64(5 * scans)}); scan.last != want {
			t.Errorf("scan %d stopped at %s, want %s", scans, scan.last, want)
		}
		if scans == 3 {
			t.Fatal("log not exhausted after 3 scans of 5 events")
		}
		position = scan.last
	}
	if strings.Join(found, ",") != strings.Join(ids, ",") {
		t.Errorf("scans found starts of %v, want %v", found, ids)
	}

	// A filter that matches nothing still ends at the last event read.
	none := readmodel.EventFilter{ActorID: "auditor"}
	scan, err := r.scanAll(ctx, eventstore.Start, 10, none, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(scan.page) != 0 || scan.exhausted || scan.last.Commit != 5 {
		t.Errorf("empty scan = %d events, exhausted %v, last %s; want none, not exhausted, at 5", len(scan.page), scan.exhausted, scan.last)
	}

	// A full page with one more match has a next page.
	scan, err = r.scanAll(ctx, eventstore.Start, 1, starts, MaxAuditScan)
	if err != nil {
		t.Fatal(err)
	}
	if len(scan.page) != 1 || !scan.hasNext || scan.page[0].ProjectID != ids[0] {
		t.Errorf("page of 1 = %d events, hasNext %v; want the first start and a next page", len(scan.page), scan.hasNext)
	}
}

func TestReplayReportsEveryEvent(t *testing.T) {
	r := newAuditResolver(t)
	ctx := context.Background()
	for _, customer := range []string{"acme", "globex"} {
		execute(t, r, "", customer, domain.StartProject{CustomerID: customer, CustomerName: customer, Name: "Onboarding", Systems: []domain.SystemInput{{Name: "Shop", Platform: "SHOPIFY"}}})
	}

	report, err := r.replay(ctx)

	if err != nil {
		t.Fatal(err)
	}
	if report.Events != 2 || report.Projects != 2 || report.FailedEvents != 0 {
		t.Errorf("replay report = %+v, want 2 events of 2 projects and no failures", report)
	}
	if report.ElapsedMs <= 0 || report.EventsPerSecond <= 0 {
		t.Errorf("replay report = %+v, want a positive time and speed", report)
	}
}
