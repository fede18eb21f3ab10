package readmodel_test

import (
	"context"
	"flag"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/embedded"
	"github.com/integrationplatform/onboarding/keyring/keyringtest"
	"github.com/integrationplatform/onboarding/readmodel"
)

var rebuildEvents = flag.Int("rebuild-events", 200_000, "approximate number of events BenchmarkRebuild stores before it measures")

// projectRun returns the events of a whole onboarding run decided by the
// aggregate: a settlement project with a WooCommerce shop, Fortnox, Klarna
// and PostNord, every question answered, a failed and a passed test, time
// logged, and the handover.
func projectRun(tb testing.TB, projectID string) []domain.Event {
	p := domain.NewProject(projectID)
	var events []domain.Event
	do := func(cmd domain.Command) {
		out, err := p.Decide(cmd)
		if err != nil {
			tb.Fatalf("%s: %v", domain.CommandName(cmd), err)
		}
		for _, e := range out {
			p.Apply(e)
		}
		events = append(events, out...)
	}
	do(domain.StartProject{ProjectID: projectID, CustomerID: "c-" + projectID[:8], CustomerName: "Customer", Name: "Run", EstimatedHours: 20, UsesSettlement: true,
		Systems: []domain.SystemInput{{Name: "Shop", Platform: "WOOCOMMERCE"}, {Name: "ERP", Platform: "FORTNOX"}, {Name: "Pay", Platform: "KLARNA"}, {Name: "Ship", Platform: "POSTNORD"}}})
	do(domain.AddContact{ContactID: "c1", Name: "Anna", Email: "anna@example.com", Role: "Owner"})
	for _, s := range p.Template().Steps() {
		if !p.Applicable(s) {
			continue
		}
		for _, a := range p.AskedQuestions(s) {
			do(domain.SubmitAnswer{QuestionID: a.Question.ID, SystemID: a.Key().SystemID, Value: sampleAnswer(a)})
		}
		for i, t := range s.Tests {
			if i == 0 {
				do(domain.RecordTestResult{StepID: s.ID, TestID: t.ID, Passed: false, Notes: "first run failed"})
			}
			do(domain.RecordTestResult{StepID: s.ID, TestID: t.ID, Passed: true})
		}
		do(domain.CompleteStep{StepID: s.ID})
		do(domain.LogTime{Hours: 0.5, Description: "work on " + s.ID, StepID: s.ID})
	}
	do(domain.CompleteProject{})
	return events
}

func sampleAnswer(a domain.Asked) string {
	switch a.Question.Kind {
	case domain.KindBoolean, domain.KindConfirmation:
		return "true"
	case domain.KindChoice:
		return a.Question.Options[0].ID
	case domain.KindSystem:
		return "erp"
	case domain.KindNumber:
		return "3001"
	default:
		return "a sample answer of moderate length"
	}
}

// fillStore appends whole project runs until about n events are stored.
func fillStore(b *testing.B, store eventstore.Store, codec *eventstore.Codec, n int) int {
	perProject := len(projectRun(b, uuid.NewString()))
	projects := (n + perProject - 1) / perProject
	md := eventstore.Metadata{Actor: eventstore.Actor{UserID: "bench", Role: "engineer"}, OccurredAt: time.Now().UTC()}
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failure error
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				id := uuid.NewString()
				run := projectRun(b, id)
				data := make([]eventstore.EventData, len(run))
				prev := ""
				for i, e := range run {
					data[i], prev, _ = codec.Encode(context.Background(), uuid.NewString(), id, e, md, prev)
				}
				if _, err := store.Append(context.Background(), eventstore.StreamName(id), eventstore.NoStream(), data...); err != nil {
					mu.Lock()
					failure = err
					mu.Unlock()
				}
			}
		}()
	}
	for i := range projects {
		work <- i
	}
	close(work)
	wg.Wait()
	if failure != nil {
		b.Fatal(failure)
	}
	return projects * perProject
}

// BenchmarkRebuild measures how fast the projector rebuilds every read
// model from a stored log. The reference, BenchmarkRebuild/read-only,
// reads the same events from the store without decoding or applying them.
func BenchmarkRebuild(b *testing.B) {
	store, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	codec := keyringtest.Codec(b)
	total := fillStore(b, store, codec, *rebuildEvents)
	b.Logf("stored %d events", total)

	b.Run("read-only", func(b *testing.B) {
		for range b.N {
			after, count := eventstore.Start, 0
			for {
				events, err := store.ReadAll(context.Background(), after, readmodel.CatchUpBatch, eventstore.Filter{StreamPrefix: eventstore.StreamPrefix})
				if err != nil {
					b.Fatal(err)
				}
				if len(events) == 0 {
					break
				}
				count += len(events)
				after = events[len(events)-1].Position
			}
			if count != total {
				b.Fatalf("read %d events, stored %d", count, total)
			}
		}
		b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("projector", func(b *testing.B) {
		for range b.N {
			models := readmodel.NewModels()
			projector := readmodel.NewProjector(store, codec, models, zerolog.Nop())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- projector.Run(ctx) }()
			<-projector.CaughtUp()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			if projector.Failures() != 0 {
				b.Fatalf("%d events failed to apply", projector.Failures())
			}
			if d := models.Dashboard(); d.CompletedProjects*len(projectRun(b, uuid.NewString())) != total {
				b.Fatalf("dashboard shows %d completed projects for %d events", d.CompletedProjects, total)
			}
		}
		b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
