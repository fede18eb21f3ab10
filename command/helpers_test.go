package command_test

import (
	"context"
	"errors"
	"sync"
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

// waitLimit bounds every wait for another goroutine, so that a test that
// would hang fails instead.
const waitLimit = 10 * time.Second

// actor is the user that every request is sent as.
var actor = eventstore.Actor{UserID: "engineer-1", Role: "engineer"}

// openStore opens an embedded store in a temporary directory and closes it
// when the test ends.
func openStore(t *testing.T) *embedded.Store {
	t.Helper()
	dir := t.TempDir()
	store, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatalf("embedded.Open(%s) failed: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("Close of the store in %s failed: %v", dir, err)
		}
	})
	return store
}

// process models one server process. It has read models fed by a projector
// and a command handler, and it may share its store with other processes.
type process struct {
	models  *readmodel.Models
	handler *command.Handler
}

// newProcess starts a projector on store, waits until it has caught up and
// returns a handler that appends to appendStore. The projector stops when
// the test ends, before the store closes.
func newProcess(t *testing.T, store eventstore.Store, appendStore eventstore.Store) *process {
	t.Helper()
	models := readmodel.NewModels()
	codec := codecFor(t, store)
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
	select {
	case <-projector.CaughtUp():
	case <-time.After(waitLimit):
		t.Fatalf("projector did not catch up within %s", waitLimit)
	}
	return &process{models: models, handler: command.NewHandler(appendStore, codec, models, zerolog.Nop(), nil)}
}

// codecs maps each test store to the codec that every process on it
// shares, as processes on one store share its keyring.
var codecs sync.Map // eventstore.Store → *eventstore.Codec

// codecFor returns the codec of the processes on store.
func codecFor(t *testing.T, store eventstore.Store) *eventstore.Codec {
	t.Helper()
	if c, ok := codecs.Load(store); ok {
		return c.(*eventstore.Codec)
	}
	c, _ := codecs.LoadOrStore(store, keyringtest.Codec(t))
	t.Cleanup(func() { codecs.Delete(store) })
	return c.(*eventstore.Codec)
}

// newTestProcess opens a store and starts one process on it.
func newTestProcess(t *testing.T) (*embedded.Store, *process) {
	t.Helper()
	store := openStore(t)
	return store, newProcess(t, store, store)
}

// execute runs the request and fails the test on an error.
func (p *process) execute(t *testing.T, req command.Request) command.Result {
	t.Helper()
	res, err := p.try(req)
	if err != nil {
		t.Fatalf("Execute %s on project %q failed: %v", domain.CommandName(req.Command), req.ProjectID, err)
	}
	return res
}

// try runs the request with the test actor and a time limit.
func (p *process) try(req command.Request) (command.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if req.Actor.UserID == "" {
		req.Actor = actor
	}
	return p.handler.Execute(ctx, req)
}

// start starts a hosted project for the customer and returns its id.
func (p *process) start(t *testing.T, customerID string) string {
	t.Helper()
	return p.execute(t, command.Request{Command: hostedStart(customerID)}).ProjectID
}

// view returns the view of the project, failing the test when the models
// have none.
func (p *process) view(t *testing.T, projectID string) *readmodel.Project {
	t.Helper()
	v, ok := p.models.Project(projectID)
	if !ok {
		t.Fatalf("Project(%s) found no project", projectID)
	}
	return v
}

// hostedStart starts a project with a Shopify shop and Fortnox, without
// settlement.
func hostedStart(customerID string) domain.StartProject {
	return domain.StartProject{
		CustomerID: customerID, CustomerName: "Customer " + customerID, Name: "Onboarding of " + customerID, EstimatedHours: 10,
		Systems: []domain.SystemInput{{Name: "Shopify store", Platform: "SHOPIFY"}, {Name: "Fortnox", Platform: "FORTNOX"}},
	}
}

// streamLength returns the number of events stored in the project's stream.
func streamLength(t *testing.T, store eventstore.Store, projectID string) int {
	t.Helper()
	records, err := store.ReadStream(context.Background(), eventstore.StreamName(projectID), 0, 0)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return 0
	}
	if err != nil {
		t.Fatalf("ReadStream of project %s failed: %v", projectID, err)
	}
	return len(records)
}

// projectCount returns the number of projects in the models.
func projectCount(t *testing.T, models *readmodel.Models) int {
	t.Helper()
	page, err := models.List(readmodel.ProjectFilter{}, 0, "")
	if err != nil {
		t.Fatalf("List failed: %v", err)
	}
	return page.TotalCount
}

// domainError returns err as a *domain.Error, failing the test when it is
// not one.
func domainError(t *testing.T, err error) *domain.Error {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) {
		t.Fatalf("error = %v (%T), expected a *domain.Error", err, err)
	}
	return de
}

// interleavedStore is the real embedded store with a hook that runs inside
// Append, before the append reaches the store. A test sets the hook to let
// another writer append between a handler's read and its append, which
// makes the handler's append conflict.
type interleavedStore struct {
	*embedded.Store

	// mu guards hook and remaining.
	mu        sync.Mutex
	hook      func()
	remaining int
}

// interleave runs hook before each of the next n appends.
func (s *interleavedStore) interleave(n int, hook func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook, s.remaining = hook, n
}

// Append runs the hook, while it has runs left, and then appends to the
// store.
func (s *interleavedStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	s.mu.Lock()
	var hook func()
	if s.remaining > 0 {
		hook = s.hook
		s.remaining--
	}
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return s.Store.Append(ctx, stream, expected, events...)
}
