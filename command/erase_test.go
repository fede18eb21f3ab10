package command_test

import (
	"context"
	"testing"

	"github.com/integrationplatform/onboarding/command"
	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/embedded"
)

// cancelAfterAppend cancels the request context once an append succeeded,
// as a client that disconnects right after the write does.
type cancelAfterAppend struct {
	*embedded.Store
	cancel context.CancelFunc
}

func (s *cancelAfterAppend) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	res, err := s.Store.Append(ctx, stream, expected, events...)
	if err == nil && s.cancel != nil {
		s.cancel()
	}
	return res, err
}

func TestErasureSurvivesCancelledRequest(t *testing.T) {
	store := openStore(t)
	wrapper := &cancelAfterAppend{Store: store}
	p := newProcess(t, store, wrapper)
	id := p.start(t, "c1")
	p.execute(t, command.Request{ProjectID: id, Command: domain.AddContact{ContactID: "k1", Name: "Anna Lind", Email: "anna@example.com"}})
	before := streamLength(t, store, id)

	ctx, cancel := context.WithCancel(context.Background())
	wrapper.cancel = cancel
	_, _ = p.handler.Execute(ctx, command.Request{ProjectID: id, Command: domain.ErasePersonalData{Reason: "customer request"}, Actor: actor})
	wrapper.cancel = nil

	if streamLength(t, store, id) != before+1 {
		t.Fatal("the erasure event was not stored")
	}
	old, err := p.handler.ProjectAt(context.Background(), id, before)
	if err != nil {
		t.Fatal(err)
	}
	if c := old.Contacts[0]; !c.Erased || c.Name != domain.ErasedValue {
		t.Errorf("project before the erasure, replayed after it: contact %+v, want it erased because the data key is gone", c)
	}
}
