package readmodel_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/readmodel"
)

// logTimes returns n LogTime commands.
func logTimes(n int) []domain.Command {
	cmds := make([]domain.Command, n)
	for i := range cmds {
		cmds[i] = domain.LogTime{Hours: 0.5, Description: "work"}
	}
	return cmds
}

// collector records the changes Follow sends, safe for concurrent use.
type collector struct {
	mu      sync.Mutex
	changes []readmodel.Change
}

func (c *collector) add(change readmodel.Change) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changes = append(c.changes, change)
	return nil
}

func (c *collector) waitFor(t *testing.T, n int) []readmodel.Change {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.changes)
		c.mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d changes, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]readmodel.Change(nil), c.changes...)
}

func TestFollowCatchUpOutrunsBuffer(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(base, hostedStart("acme"))
	other := s.start(base, hostedStart("globex"))
	early := s.do(id, hours(1), logTimes(20)...)
	s.do(other, hours(1), logTimes(5)...)

	// Events stored but not yet applied, more than a subscriber may buffer.
	var pending []eventstore.Envelope
	for range 30 {
		pending = append(pending, s.record(id, hours(2), logTimes(100)...)...)
		pending = append(pending, s.record(other, hours(2), logTimes(5)...)...)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	after := early[9].Position
	started, applied := make(chan struct{}), make(chan struct{})
	got := &collector{}
	followDone := make(chan error, 1)
	go func() {
		first := true
		followDone <- models.Follow(ctx, s.store, s.codec, readmodel.FollowRequest{ProjectID: id, After: &after}, func(c readmodel.Change) error {
			if first {
				// Hold the catch-up until the live changes overflowed the
				// subscription's buffer.
				first = false
				close(started)
				<-applied
			}
			return got.add(c)
		})
	}()

	<-started
	for _, env := range pending {
		if err := models.Apply(env); err != nil {
			t.Fatalf("Apply of revision %d failed: %v", env.Revision, err)
		}
	}
	close(applied)
	live := s.do(id, hours(3), logTimes(3)...)

	want := 10 + 3000 + len(live)
	changes := got.waitFor(t, want)
	cancel()
	if err := <-followDone; !errors.Is(err, context.Canceled) {
		t.Errorf("Follow returned %v, want context.Canceled", err)
	}
	if len(changes) != want {
		t.Fatalf("received %d changes, want %d", len(changes), want)
	}
	for i, c := range changes {
		if c.Envelope.ProjectID != id {
			t.Fatalf("change %d is of project %s, want %s", i, c.Envelope.ProjectID, id)
		}
		if wantRevision := uint64(11 + i); c.Envelope.Revision != wantRevision {
			t.Fatalf("change %d has revision %d, want %d", i, c.Envelope.Revision, wantRevision)
		}
	}
	if models.Feed().Dropped() == 0 {
		t.Error("feed dropped no subscriber, so the test did not overflow the buffer during the catch-up")
	}
}

func TestFollowViewsAfterEachEvent(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(base, hostedStart("acme"))
	s.do(id, hours(1), logTimes(4)...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	after := eventstore.Start
	got := &collector{}
	followDone := make(chan error, 1)
	go func() {
		followDone <- models.Follow(ctx, s.store, s.codec, readmodel.FollowRequest{ProjectID: id, Views: true, After: &after}, func(c readmodel.Change) error {
			return got.add(c)
		})
	}()
	changes := got.waitFor(t, 5)
	s.do(id, hours(2), logTimes(1)...)
	changes = got.waitFor(t, 6)
	cancel()
	<-followDone

	for i, c := range changes {
		if c.Project == nil {
			t.Fatalf("change %d has no view", i)
		}
		if c.Project.Version != i+1 {
			t.Errorf("change %d: view version %d, want %d", i, c.Project.Version, i+1)
		}
		if wantHours := 0.5 * float64(i); c.Project.LoggedHours != wantHours {
			t.Errorf("change %d: logged hours %v, want %v", i, c.Project.LoggedHours, wantHours)
		}
	}
	if viewJSON(t, changes[5].Project) != viewJSON(t, mustProject(t, models, id)) {
		t.Error("view of the last change differs from the live view")
	}
}

func TestFollowWithoutAfterSendsOnlyLive(t *testing.T) {
	models := readmodel.NewModels()
	s := newScenario(t, models)
	id := s.start(base, hostedStart("acme"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := &collector{}
	followDone := make(chan error, 1)
	go func() {
		followDone <- models.Follow(ctx, s.store, s.codec, readmodel.FollowRequest{ProjectID: id}, got.add)
	}()
	for models.Feed().Subscribers() == 0 {
		time.Sleep(time.Millisecond)
	}
	s.do(id, hours(1), logTimes(1)...)
	changes := got.waitFor(t, 1)
	cancel()
	<-followDone
	if len(changes) != 1 || changes[0].Envelope.Revision != 1 {
		t.Fatalf("changes %+v, want only revision 1", changes)
	}
}
