package command_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/command"
	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/keyring/keyringtest"
	"github.com/integrationplatform/onboarding/readmodel"
)

// flakyKeys fails the next read of a data key once, as a key storage on a
// briefly unreachable EventStoreDB does.
type flakyKeys struct {
	eventstore.Keyring
	failNext atomic.Bool
}

func (k *flakyKeys) DataKey(ctx context.Context, projectID string, create bool) ([]byte, error) {
	if !create && k.failNext.CompareAndSwap(true, false) {
		return nil, fmt.Errorf("read datakey-%s: %w", projectID, eventstore.ErrUnavailable)
	}
	return k.Keyring.DataKey(ctx, projectID, create)
}

// A key read that fails for a moment must delay the projector, not make
// it skip an acknowledged event.
func TestProjectorRetriesTransientKeyError(t *testing.T) {
	store := openStore(t)
	keys := &flakyKeys{Keyring: keyringtest.New(t)}
	models, projector, h, res := startWithKeys(t, store, keys)
	id := res.ProjectID

	keys.failNext.Store(true)
	res, err := h.Execute(context.Background(), command.Request{ProjectID: id, Command: domain.AddContact{ContactID: "k1", Name: "Anna Lind", Email: "anna@example.com"}, Actor: actor})

	if err != nil {
		t.Fatalf("addContact failed: %v", err)
	}
	v, _ := models.Project(id)
	if v.Version != res.Version || len(v.Contacts) != 1 {
		t.Errorf("read model at version %d with %d contacts after addContact was acknowledged at version %d", v.Version, len(v.Contacts), res.Version)
	}
	if n := projector.Failures(); n != 0 {
		t.Errorf("projector skipped %d events", n)
	}
	if keys.failNext.Load() {
		t.Error("the key read never failed, so the test checked nothing")
	}
}

// creatingKeys counts the data keys that a keyring is asked to create.
type creatingKeys struct {
	eventstore.Keyring
	creates atomic.Int64
}

func (k *creatingKeys) DataKey(ctx context.Context, projectID string, create bool) ([]byte, error) {
	if create {
		k.creates.Add(1)
	}
	return k.Keyring.DataKey(ctx, projectID, create)
}

func TestUnknownProjectGetsNoDataKey(t *testing.T) {
	store := openStore(t)
	keys := &creatingKeys{Keyring: keyringtest.New(t)}
	codec := eventstore.NewCodec(keys)
	models := readmodel.NewModels()
	h := command.NewHandler(store, codec, models, zerolog.Nop(), nil)
	unknown := "7c1b2f64-9a3e-4d2b-8f5e-2a6c1d0e9b31"

	_, err := h.Execute(context.Background(), command.Request{ProjectID: unknown, IdempotencyKey: "k1", Command: domain.LogTime{Hours: 1, Description: "work"}, Actor: actor})

	if err == nil {
		t.Fatal("a command on an unknown project succeeded")
	}
	if n := keys.creates.Load(); n != 0 {
		t.Errorf("a command on an unknown project asked for %d new data keys, want none", n)
	}
}

// downKeys fails every read of an existing data key while down is set.
type downKeys struct {
	eventstore.Keyring
	down atomic.Bool
}

func (k *downKeys) DataKey(ctx context.Context, projectID string, create bool) ([]byte, error) {
	if !create && k.down.Load() {
		return nil, fmt.Errorf("read datakey-%s: %w", projectID, eventstore.ErrUnavailable)
	}
	return k.Keyring.DataKey(ctx, projectID, create)
}

// waitUntil polls cond until it holds or waitLimit passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, waitLimit)
		}
		<-tick.C
	}
}

func TestProjectorStalledWhileKeysDown(t *testing.T) {
	store := openStore(t)
	keys := &downKeys{Keyring: keyringtest.New(t)}
	models, projector, h, res := startWithKeys(t, store, keys)

	keys.down.Store(true)
	written := make(chan error, 1)
	go func() {
		_, err := h.Execute(context.Background(), command.Request{ProjectID: res.ProjectID, Command: domain.AddContact{ContactID: "k1", Name: "Anna Lind", Email: "anna@example.com"}, Actor: actor})
		written <- err
	}()
	waitUntil(t, "the projector stalling", projector.Stalled)
	keys.down.Store(false)

	if err := <-written; err != nil {
		t.Fatalf("addContact failed after the keys came back: %v", err)
	}
	if projector.Stalled() {
		t.Error("the projector still reports a stall after the event was applied")
	}
	if v, _ := models.Project(res.ProjectID); len(v.Contacts) != 1 {
		t.Errorf("read model has %d contacts, want the one added", len(v.Contacts))
	}
}

// startWithKeys runs a projector and a handler on store with keys, and
// starts one project.
func startWithKeys(t *testing.T, store eventstore.Store, keys eventstore.Keyring) (*readmodel.Models, *readmodel.Projector, *command.Handler, command.Result) {
	t.Helper()
	codec := eventstore.NewCodec(keys)
	models := readmodel.NewModels()
	projector := readmodel.NewProjector(store, codec, models, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- projector.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-projector.CaughtUp()
	h := command.NewHandler(store, codec, models, zerolog.Nop(), nil)
	res, err := h.Execute(context.Background(), command.Request{Command: hostedStart("c1"), Actor: actor})
	if err != nil {
		t.Fatal(err)
	}
	return models, projector, h, res
}
