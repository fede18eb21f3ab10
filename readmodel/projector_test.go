package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/readmodel"
)

// waitLimit bounds every wait for another goroutine, so that a test that
// would hang fails instead.
const waitLimit = 10 * time.Second

// runProjector starts a projector that feeds models from the store and
// stops it when the test ends, checking that Run returned nil.
func runProjector(t *testing.T, store eventstore.Store, codec *eventstore.Codec, models *readmodel.Models) *readmodel.Projector {
	t.Helper()
	projector := readmodel.NewProjector(store, codec, models, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- projector.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("projector Run returned %v after its context ended, expected nil", err)
		}
	})
	return projector
}

// waitCaughtUp waits until the projector has caught up.
func waitCaughtUp(t *testing.T, projector *readmodel.Projector) {
	t.Helper()
	select {
	case <-projector.CaughtUp():
	case <-time.After(waitLimit):
		t.Fatalf("projector did not catch up within %s", waitLimit)
	}
}

// waitFor waits until the models have applied the event at pos.
func waitFor(t *testing.T, models *readmodel.Models, pos eventstore.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := models.WaitFor(ctx, pos); err != nil {
		t.Fatalf("WaitFor(%s) failed: %v; the models are at %s", pos, err, models.Position())
	}
}

func TestProjectorCatchUpThenLive(t *testing.T) {
	s := newScenario(t, nil)
	hosted := s.start(hours(0), hostedStart("customer-1"))
	s.do(hosted, hours(1), domain.LogTime{Hours: 1.5, Description: "kickoff"})
	settlement := s.start(hours(2), settlementStart("customer-2"))
	stored := s.do(hosted, hours(3), domain.MarkWaitingOnCustomer{Reason: "questionnaire not returned"})
	storedAt := stored[len(stored)-1].Position

	models := readmodel.NewModels()
	projector := runProjector(t, s.store, s.codec, models)
	waitCaughtUp(t, projector)

	if got := models.Position(); got != storedAt {
		t.Errorf("position = %s when caught up, expected the last stored position %s", got, storedAt)
	}
	if !projector.Ready() {
		t.Error("Ready() = false after CaughtUp closed")
	}
	catchUp := []struct {
		id      string
		version int
	}{{hosted, 3}, {settlement, 1}}
	for _, c := range catchUp {
		if v := mustProject(t, models, c.id); v.Version != c.version {
			t.Errorf("project %s: version = %d when caught up, expected %d", c.id, v.Version, c.version)
		}
	}

	live := s.do(settlement, hours(4), domain.LogTime{Hours: 2, Description: "workshop"})
	liveAt := live[len(live)-1].Position
	waitFor(t, models, liveAt)

	v := mustProject(t, models, settlement)
	if v.Version != 2 {
		t.Errorf("version = %d after a live event, expected 2", v.Version)
	}
	if v.LoggedHours != 2 {
		t.Errorf("logged hours = %v after a live event, expected 2", v.LoggedHours)
	}
	started := s.start(hours(5), hostedStart("customer-3"))
	waitFor(t, models, s.readStream(started, 0)[0].Position)
	if _, ok := models.Project(started); !ok {
		t.Errorf("project %s started after catch-up is not in the models", started)
	}
	if n := projector.Failures(); n != 0 {
		t.Errorf("Failures() = %d, expected 0", n)
	}
}

func TestProjectorCatchUpBatchEdges(t *testing.T) {
	cases := []int{readmodel.CatchUpBatch - 1, readmodel.CatchUpBatch, readmodel.CatchUpBatch + 1}
	for _, events := range cases {
		t.Run(fmt.Sprintf("%d events", events), func(t *testing.T) {
			s := newScenario(t, nil)
			id := s.start(hours(0), hostedStart("customer-1"))
			cmds := make([]domain.Command, events-1)
			for i := range cmds {
				cmds[i] = domain.LogTime{Hours: 0.25, Description: fmt.Sprintf("entry %d", i)}
			}
			stored := s.record(id, hours(1), cmds...)

			models := readmodel.NewModels()
			waitCaughtUp(t, runProjector(t, s.store, s.codec, models))

			if got, want := models.Position(), stored[len(stored)-1].Position; got != want {
				t.Errorf("position = %s when caught up, expected %s", got, want)
			}
			v := mustProject(t, models, id)
			if v.Version != events {
				t.Errorf("version = %d when caught up, expected %d", v.Version, events)
			}
			if want := 0.25 * float64(events-1); v.LoggedHours != want {
				t.Errorf("logged hours = %v when caught up, expected %v", v.LoggedHours, want)
			}
		})
	}
}

// An event that cannot be decoded is counted and skipped, both while the
// projector catches up and while it follows the store, and the events
// after it are still applied.
func TestProjectorSkipsUndecodableEvent(t *testing.T) {
	s := newScenario(t, nil)
	appendUnknown := func() eventstore.Position {
		t.Helper()
		data := eventstore.EventData{ID: uuid.NewString(), Type: "NoSuchEvent", Data: []byte(`{}`), Metadata: []byte(`{}`)}
		res, err := s.store.Append(context.Background(), eventstore.StreamName(uuid.NewString()), eventstore.NoStream(), data)
		if err != nil {
			t.Fatalf("Append of an unknown event type failed: %v", err)
		}
		return res.Position
	}
	appendUnknown()
	first := s.start(hours(0), hostedStart("customer-1"))

	models := readmodel.NewModels()
	projector := runProjector(t, s.store, s.codec, models)
	waitCaughtUp(t, projector)

	if n := projector.Failures(); n != 1 {
		t.Errorf("Failures() = %d after catching up over one unknown event, expected 1", n)
	}
	if _, ok := models.Project(first); !ok {
		t.Errorf("project %s stored after the unknown event is not in the models", first)
	}

	skipped := appendUnknown()
	waitFor(t, models, skipped)
	second := s.start(hours(1), hostedStart("customer-2"))
	waitFor(t, models, s.readStream(second, 0)[0].Position)

	if n := projector.Failures(); n != 2 {
		t.Errorf("Failures() = %d after a second unknown event, expected 2", n)
	}
	if _, ok := models.Project(second); !ok {
		t.Errorf("project %s stored after the second unknown event is not in the models", second)
	}
}

func TestWaitForPosition(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(hours(0), hostedStart("customer-1"))
	applied := models.Position()

	t.Run("already applied", func(t *testing.T) {
		if err := models.WaitFor(context.Background(), applied); err != nil {
			t.Errorf("WaitFor(%s) with the models at %s returned %v, expected nil", applied, applied, err)
		}
	})

	t.Run("applied later", func(t *testing.T) {
		target := next(models.Position())
		done := make(chan error, 1)
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		go func() { done <- models.WaitFor(ctx, target) }()

		s.do(id, hours(1), domain.LogTime{Hours: 1, Description: "kickoff"})

		if err := <-done; err != nil {
			t.Fatalf("WaitFor(%s) returned %v after the event was applied, expected nil", target, err)
		}
		if got := models.Position(); got.Less(target) {
			t.Errorf("WaitFor returned with the models at %s, before %s", got, target)
		}
	})

	never := eventstore.Position{Commit: 1 << 40, Prepare: 1 << 40}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancelExpired := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelExpired()
	cases := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"never applied, cancelled", cancelled, context.Canceled},
		{"never applied, deadline", expired, context.DeadlineExceeded},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := models.WaitFor(c.ctx, never)

			if !errors.Is(err, c.want) {
				t.Errorf("WaitFor(%s) returned %v, expected an error wrapping %v", never, err, c.want)
			}
		})
	}
}
