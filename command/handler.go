// Package command runs domain commands against the event store: it loads
// a project's stream, lets the aggregate decide, appends the resulting
// events with optimistic concurrency and waits until the read models show
// them.
package command

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/readmodel"
)

// MaxConflictRetries is how many times a command without an expected
// version is retried after another writer changed the project first.
const MaxConflictRetries = 20

// idempotencyNamespace derives event and project ids from idempotency keys.
var idempotencyNamespace = uuid.MustParse("6f1c1f0e-8a53-4c1e-9a55-1d5b2f0c7e21")

// Request is one command with its context.
type Request struct {
	// ProjectID is empty for StartProject, which generates it.
	ProjectID string
	Command   domain.Command
	// ExpectedVersion, when set, must equal the project's version.
	ExpectedVersion *int
	// IdempotencyKey makes a retried request return the first result and
	// store nothing new.
	IdempotencyKey string
	Actor          eventstore.Actor
	CorrelationID  string
}

// Result is the outcome of a handled request.
type Result struct {
	ProjectID string
	Version   int
	Position  eventstore.Position
	// Events is the number of events the command decided on: zero for a
	// no-op or for an idempotency key already in the project's stream.
	Events int
	// Repeated is true when the idempotency key was already used: Version
	// and Position are then those of the first request.
	Repeated bool
}

// requestBytes identifies a request's command and its input, for comparing
// requests that share an idempotency key.
func requestBytes(req Request) []byte {
	return fmt.Appendf(nil, "%s %#v", domain.CommandName(req.Command), req.Command)
}

// ProjectAt returns the project as it was at version, built from the first
// version events of its stream by the same code as the live read model.
func (h *Handler) ProjectAt(ctx context.Context, projectID string, version int) (*readmodel.Project, error) {
	records, err := h.store.ReadStream(ctx, eventstore.StreamName(projectID), 0, version)
	if err != nil {
		return nil, fmt.Errorf("read project %s: %w", projectID, err)
	}
	envs := make([]eventstore.Envelope, len(records))
	for i, r := range records {
		if envs[i], err = h.codec.Decode(ctx, r); err != nil {
			return nil, err
		}
	}
	return readmodel.Replay(envs)
}

// ConflictError reports that the project's version did not match the
// expected one.
type ConflictError struct {
	ProjectID string
	Expected  int
	Current   int
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("project %q is at version %d, not the expected version %d; reload the project and retry", e.ProjectID, e.Current, e.Expected)
}

// Handler runs commands. It is safe for concurrent use; commands on one
// project run one at a time within a process.
type Handler struct {
	store  eventstore.Store
	codec  *eventstore.Codec
	models *readmodel.Models
	log    zerolog.Logger
	now    func() time.Time

	// mu guards locks.
	mu    sync.Mutex
	locks map[string]*projectLock
	// cache keeps recently used aggregates, so that a command reads only the
	// events appended since the last command on the project. An entry is
	// used only under its project's lock.
	cache *lru.Cache[string, *cachedProject]
}

// CacheSize is the number of project aggregates a handler keeps in memory.
const CacheSize = 10000

// projectLock serialises commands on one project.
type projectLock struct {
	mu    sync.Mutex
	users int
}

// keyRecord is the result of the request that first used an idempotency
// key in a project's stream.
type keyRecord struct {
	position eventstore.Position
	version  int
	// hash identifies the request, so that a key reused for another
	// request is rejected instead of silently returning the first result.
	hash string
}

type cachedProject struct {
	agg *domain.Project
	// lastHash is the chain hash of the last event applied to agg.
	lastHash string
	keys     map[string]keyRecord
	last     eventstore.Position
}

// NewHandler returns a handler that appends to store, encoding events with
// codec, and waits for models.
func NewHandler(store eventstore.Store, codec *eventstore.Codec, models *readmodel.Models, log zerolog.Logger, now func() time.Time) *Handler {
	if now == nil {
		now = time.Now
	}
	cache, err := lru.New[string, *cachedProject](CacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &Handler{store: store, codec: codec, models: models, log: log, now: now, locks: map[string]*projectLock{}, cache: cache}
}

// Execute runs the request and returns once the read models show its
// effect. Errors are *domain.Error, *ConflictError, or store errors.
func (h *Handler) Execute(ctx context.Context, req Request) (Result, error) {
	if _, ok := req.Command.(domain.StartProject); ok {
		if err := h.prepareStart(&req); err != nil {
			return Result{}, err
		}
	}
	if _, err := uuid.Parse(req.ProjectID); err != nil {
		return Result{}, &domain.Error{Kind: domain.KindNotFound, Field: "projectId", Message: fmt.Sprintf("project %q does not exist; project ids are UUIDs", req.ProjectID)}
	}
	lock := h.lock(req.ProjectID)
	defer h.unlock(req.ProjectID, lock)

	res, err := h.executeLocked(ctx, req)
	if err != nil {
		return res, err
	}
	if _, ok := req.Command.(domain.ErasePersonalData); ok {
		// The erasure event is stored first, so a crash before the key is
		// destroyed leaves a record, and every process that decodes the
		// event destroys the key as well. A client that went away must not
		// stop the destruction halfway.
		destroyCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := h.codec.DestroyKey(destroyCtx, req.ProjectID); err != nil {
			// The projector destroys the key before it applies the erasure,
			// and WaitFor below waits for that, so the response still
			// means erased.
			h.log.Warn().Err(err).Str("project_id", req.ProjectID).Msg("data key not destroyed yet; the projector retries")
		} else {
			h.log.Info().Str("project_id", req.ProjectID).Str("correlation_id", req.CorrelationID).Str("user_id", req.Actor.UserID).Msg("data key destroyed")
		}
	}
	if err := h.models.WaitFor(ctx, res.Position); err != nil {
		return res, err
	}
	return res, nil
}

func (h *Handler) prepareStart(req *Request) error {
	start := req.Command.(domain.StartProject)
	switch {
	case req.IdempotencyKey != "":
		req.ProjectID = uuid.NewSHA1(idempotencyNamespace, []byte("start/"+req.IdempotencyKey)).String()
	case req.ProjectID == "":
		req.ProjectID = uuid.NewString()
	}
	start.ProjectID = req.ProjectID
	if start.PreviousProjectID != "" {
		customer, ok := h.models.ProjectCustomer(start.PreviousProjectID)
		if !ok {
			return &domain.Error{Kind: domain.KindNotFound, Field: "previousProjectId", Message: fmt.Sprintf("previous project %q does not exist; pass the id of the customer's earlier project", start.PreviousProjectID)}
		}
		if customer != start.CustomerID {
			return &domain.Error{Kind: domain.KindInvalid, Field: "previousProjectId", Message: fmt.Sprintf("previous project %q belongs to customer %q, not %q; an additional project links to the same customer's project", start.PreviousProjectID, customer, start.CustomerID)}
		}
	}
	req.Command = start
	return nil
}

func (h *Handler) lock(projectID string) *projectLock {
	h.mu.Lock()
	l, ok := h.locks[projectID]
	if !ok {
		l = &projectLock{}
		h.locks[projectID] = l
	}
	l.users++
	h.mu.Unlock()
	l.mu.Lock()
	return l
}

func (h *Handler) unlock(projectID string, l *projectLock) {
	l.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	l.users--
	if l.users == 0 {
		delete(h.locks, projectID)
	}
}

func (h *Handler) executeLocked(ctx context.Context, req Request) (Result, error) {
	for attempt := 0; ; attempt++ {
		state, err := h.load(ctx, req.ProjectID)
		if err != nil {
			return Result{}, err
		}
		res, err := h.decideAndAppend(ctx, state, req)
		var conflict *eventstore.ConflictError
		if !errors.As(err, &conflict) {
			return res, err
		}
		// The cache stays: a failed append left it unchanged, and the next
		// load reads only the events the other writer appended.
		if req.ExpectedVersion != nil {
			current := 0
			if conflict.Exists {
				current = int(conflict.Current) + 1
			}
			return Result{}, &ConflictError{ProjectID: req.ProjectID, Expected: *req.ExpectedVersion, Current: current}
		}
		if attempt >= MaxConflictRetries {
			return Result{}, fmt.Errorf("project %s: gave up after %d conflicting concurrent writes: %w", req.ProjectID, attempt+1, err)
		}
		h.log.Debug().Str("project_id", req.ProjectID).Int("attempt", attempt+1).Msg("append conflict, retrying")
	}
}

// load brings the cached aggregate up to date with the stream. The caller
// holds the project's lock.
func (h *Handler) load(ctx context.Context, projectID string) (*cachedProject, error) {
	state, ok := h.cache.Get(projectID)
	if !ok {
		state = &cachedProject{agg: domain.NewProject(projectID), keys: map[string]keyRecord{}}
	}
	records, err := h.store.ReadStream(ctx, eventstore.StreamName(projectID), uint64(state.agg.Version()), 0)
	if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
		h.cache.Remove(projectID)
		return nil, fmt.Errorf("load project %s: %w", projectID, err)
	}
	for _, r := range records {
		env, err := h.codec.Decode(ctx, r)
		if err != nil {
			h.cache.Remove(projectID)
			return nil, fmt.Errorf("load project %s: %w", projectID, err)
		}
		state.agg.Apply(env.Event)
		state.last = r.Position
		state.lastHash = env.Metadata.Hash
		if k := env.Metadata.IdempotencyKey; k != "" {
			state.keys[k] = keyRecord{position: r.Position, version: int(r.Revision) + 1, hash: env.Metadata.RequestHash}
		}
	}
	if state.agg.Started() {
		h.cache.Add(projectID, state)
	}
	return state, nil
}

func (h *Handler) decideAndAppend(ctx context.Context, state *cachedProject, req Request) (Result, error) {
	agg := state.agg
	res := Result{ProjectID: req.ProjectID, Version: agg.Version(), Position: state.last}
	var hash string
	if req.IdempotencyKey != "" {
		var err error
		// Only a project that exists or is being started gets a data key,
		// so requests naming unknown projects store nothing.
		_, starting := req.Command.(domain.StartProject)
		if hash, err = h.codec.RequestHash(ctx, req.ProjectID, requestBytes(req), starting || agg.Started()); err != nil {
			return res, err
		}
	}
	if first, ok := state.keys[req.IdempotencyKey]; ok && req.IdempotencyKey != "" {
		// After an erasure the data key that made the stored hash is gone,
		// so a repeated key is trusted as the same request.
		if first.hash != "" && hash != "" && first.hash != hash {
			return res, &domain.Error{Kind: domain.KindInvalid, Field: "idempotencyKey", Message: fmt.Sprintf("idempotencyKey %q was already used for a different request on project %q; send a new key with each new request", req.IdempotencyKey, req.ProjectID)}
		}
		return Result{ProjectID: req.ProjectID, Version: first.version, Position: first.position, Repeated: true}, nil
	}
	if req.ExpectedVersion != nil && *req.ExpectedVersion != agg.Version() {
		return res, &ConflictError{ProjectID: req.ProjectID, Expected: *req.ExpectedVersion, Current: agg.Version()}
	}
	events, err := agg.Decide(req.Command)
	if err != nil || len(events) == 0 {
		return res, err
	}

	// The causation id names the command that caused the events: all events
	// of one command share it.
	md := eventstore.Metadata{Actor: req.Actor, CorrelationID: req.CorrelationID, CausationID: uuid.NewString(), OccurredAt: h.now().UTC(), IdempotencyKey: req.IdempotencyKey}
	if req.IdempotencyKey != "" {
		md.RequestHash = hash
	}
	data := make([]eventstore.EventData, len(events))
	lastHash := state.lastHash
	for i, e := range events {
		id := uuid.NewString()
		if req.IdempotencyKey != "" {
			id = uuid.NewSHA1(idempotencyNamespace, fmt.Appendf(nil, "%s/%s/%d", req.ProjectID, req.IdempotencyKey, i)).String()
		}
		if data[i], lastHash, err = h.codec.Encode(ctx, id, req.ProjectID, e, md, lastHash); err != nil {
			return res, err
		}
	}
	expected := eventstore.NoStream()
	if agg.Version() > 0 {
		expected = eventstore.Exact(uint64(agg.Version() - 1))
	}
	appended, err := h.store.Append(ctx, eventstore.StreamName(req.ProjectID), expected, data...)
	if err != nil {
		return res, err
	}
	// With an idempotency key the store may return an earlier append of the
	// same event ids, possibly by another process with other events, so the
	// cache is left as it is and the next load reads what the store holds.
	if req.IdempotencyKey != "" || int(appended.Revision)+1 != agg.Version()+len(events) {
		return Result{ProjectID: req.ProjectID, Version: int(appended.Revision) + 1, Position: appended.Position, Events: len(events)}, nil
	}
	for _, e := range events {
		agg.Apply(e)
	}
	state.last = appended.Position
	state.lastHash = lastHash
	h.log.Debug().Str("project_id", req.ProjectID).Str("command", domain.CommandName(req.Command)).Int("events", len(events)).Int("version", agg.Version()).Msg("command handled")
	return Result{ProjectID: req.ProjectID, Version: agg.Version(), Position: appended.Position, Events: len(events)}, nil
}
