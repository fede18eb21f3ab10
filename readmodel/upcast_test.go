package readmodel_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/embedded"
	"github.com/integrationplatform/onboarding/readmodel"
)

// A log written before TimeLogged stored minutes replays with the current
// code: the upcaster turns the stored hours into minutes.
func TestReplayOldTimeLoggedVersion(t *testing.T) {
	store, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	id := uuid.NewString()
	codec := eventstore.NewCodec(nil)
	start, prev, err := codec.Encode(context.Background(), uuid.NewString(), id, &domain.ProjectStarted{ProjectID: id, CustomerID: "c", CustomerName: "C", Name: "n", TemplateVersion: 1,
		Systems: []domain.System{{ID: "shop", Name: "Shop", Platform: "SHOPIFY"}}}, eventstore.Metadata{Actor: eventstore.Actor{UserID: "u"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	// The bytes a version-1 writer stored: fractional hours, schema version 1.
	oldData := []byte(`{"hours":1.5,"description":"kick-off"}`)
	oldMetadata, _ := eventstore.SealMetadata(prev, domain.TypeTimeLogged, oldData, []byte(`{"actor":{"userId":"u"},"schemaVersion":1,"occurredAt":"2025-01-01T00:00:00Z"}`))
	old := eventstore.EventData{ID: uuid.NewString(), Type: domain.TypeTimeLogged, Data: oldData, Metadata: oldMetadata}
	if _, err := store.Append(context.Background(), eventstore.StreamName(id), eventstore.NoStream(), start, old); err != nil {
		t.Fatal(err)
	}

	models := readmodel.NewModels()
	projector := readmodel.NewProjector(store, codec, models, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- projector.Run(ctx) }()
	<-projector.CaughtUp()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	p, ok := models.Project(id)
	if !ok {
		t.Fatal("project missing after replay")
	}
	if p.LoggedHours != 1.5 || len(p.TimeEntries) != 1 || p.TimeEntries[0].Minutes != 90 {
		t.Errorf("logged %v hours, entries %+v; want 1.5 hours as 90 minutes", p.LoggedHours, p.TimeEntries)
	}
	if projector.Failures() != 0 {
		t.Errorf("%d events failed to apply", projector.Failures())
	}
}
