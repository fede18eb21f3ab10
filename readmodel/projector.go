package readmodel

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/eventstore"
)

// CatchUpBatch is the number of events the projector reads at a time while
// it catches up with the log.
const CatchUpBatch = 4096

// Projector follows the event store from the read models' position and
// applies every project event to them.
type Projector struct {
	store  eventstore.Store
	codec  *eventstore.Codec
	models *Models
	log    zerolog.Logger

	caughtUp chan struct{}
	ready    atomic.Bool
	failures atomic.Int64
	// stalled is set while an event waits for a transient error to pass.
	stalled atomic.Bool
}

// NewProjector returns a projector that feeds models from store, decoding
// events with codec.
func NewProjector(store eventstore.Store, codec *eventstore.Codec, models *Models, log zerolog.Logger) *Projector {
	return &Projector{store: store, codec: codec, models: models, log: log, caughtUp: make(chan struct{})}
}

// CaughtUp is closed once the projector has applied every event that was
// stored when it started.
func (p *Projector) CaughtUp() <-chan struct{} { return p.caughtUp }

// Ready reports whether the projector has caught up.
func (p *Projector) Ready() bool { return p.ready.Load() }

// Stalled reports whether the projector is waiting for a transient error,
// such as an unreachable key storage, to pass before it can apply the next
// event. Mutations wait for the projector, so a stalled server is not
// ready.
func (p *Projector) Stalled() bool { return p.stalled.Load() }

// Failures returns the number of events that could not be applied.
func (p *Projector) Failures() int64 { return p.failures.Load() }

// Run catches up with the log and then follows it until ctx ends. A
// dropped subscription is resumed from the last applied position with
// capped exponential backoff.
func (p *Projector) Run(ctx context.Context) error {
	filter := eventstore.Filter{StreamPrefix: eventstore.StreamPrefix}
	started := time.Now()
	count := 0
	backoff := 100 * time.Millisecond
	for {
		n, err := p.catchUp(ctx, filter)
		count += n
		if err == nil {
			break
		}
		// An unreachable store may come back, so catching up is retried;
		// any other error means the log cannot be read.
		if !errors.Is(err, eventstore.ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		p.log.Warn().Err(err).Str("retry_in", backoff.String()).Msg("event store unavailable while rebuilding read models")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	p.log.Info().Int("events", count).Float64("took_ms", float64(time.Since(started).Microseconds())/1000).Str("position", p.models.Position().String()).Msg("read models rebuilt")
	p.ready.Store(true)
	close(p.caughtUp)

	backoff = 100 * time.Millisecond
	for {
		err := p.follow(ctx, filter)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, eventstore.ErrClosed) {
			p.log.Info().Msg("projector stopped: event store closed")
			return nil
		}
		p.log.Warn().Err(err).Str("retry_in", backoff.String()).Str("position", p.models.Position().String()).Msg("projector subscription dropped")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// catchUp applies every stored event. One goroutine reads and decodes the
// next batch, spread over every CPU, while this one applies the previous
// batch, because decoding JSON costs more than applying.
func (p *Projector) catchUp(ctx context.Context, filter eventstore.Filter) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []decodedEvent, 2)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		after := p.models.Position()
		for {
			events, err := p.store.ReadAll(ctx, after, CatchUpBatch, filter)
			if err != nil {
				readErr <- err
				return
			}
			if len(events) == 0 {
				return
			}
			select {
			case batches <- decodeAll(ctx, p.codec, events):
			case <-ctx.Done():
				return
			}
			if len(events) < CatchUpBatch {
				return
			}
			after = events[len(events)-1].Position
		}
	}()

	count := 0
	for batch := range batches {
		for _, d := range batch {
			if eventstore.IsTransient(d.err) {
				d.env, d.err = p.decodeRetrying(ctx, d.record)
				if ctx.Err() != nil {
					return count, ctx.Err()
				}
			}
			p.applyDecoded(d.record, d.env, d.err)
			count++
		}
	}
	select {
	case err := <-readErr:
		return count, err
	default:
		return count, ctx.Err()
	}
}

type decodedEvent struct {
	record eventstore.RecordedEvent
	env    eventstore.Envelope
	err    error
}

// DecodeAll decodes events in parallel, one chunk per CPU, and returns
// them in order. It returns the first error met.
func DecodeAll(ctx context.Context, codec *eventstore.Codec, events []eventstore.RecordedEvent) ([]eventstore.Envelope, error) {
	decoded := decodeAll(ctx, codec, events)
	envs := make([]eventstore.Envelope, len(decoded))
	for i, d := range decoded {
		if d.err != nil {
			return nil, d.err
		}
		envs[i] = d.env
	}
	return envs, nil
}

// decodeAll decodes events in parallel, one chunk per CPU, keeping order.
func decodeAll(ctx context.Context, codec *eventstore.Codec, events []eventstore.RecordedEvent) []decodedEvent {
	out := make([]decodedEvent, len(events))
	workers := runtime.GOMAXPROCS(0)
	chunk := (len(events) + workers - 1) / workers
	var wg sync.WaitGroup
	for start := 0; start < len(events); start += chunk {
		end := min(start+chunk, len(events))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := start; i < end; i++ {
				env, err := codec.Decode(ctx, events[i])
				out[i] = decodedEvent{record: events[i], env: env, err: err}
			}
		}()
	}
	wg.Wait()
	return out
}

func (p *Projector) follow(ctx context.Context, filter eventstore.Filter) error {
	sub, err := p.store.SubscribeAll(ctx, p.models.Position(), filter)
	if err != nil {
		return err
	}
	defer sub.Close()
	for {
		r, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		env, err := p.decodeRetrying(ctx, r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.applyDecoded(r, env, err)
	}
}

// decodeRetrying decodes r, retrying with capped backoff while decoding
// fails for a reason that passes, such as a key storage that cannot be
// reached, because skipping the event would leave it out of the read
// models for good. It stops when ctx ends.
func (p *Projector) decodeRetrying(ctx context.Context, r eventstore.RecordedEvent) (eventstore.Envelope, error) {
	backoff := 100 * time.Millisecond
	defer p.stalled.Store(false)
	for {
		env, err := p.codec.Decode(ctx, r)
		if !eventstore.IsTransient(err) || ctx.Err() != nil {
			return env, err
		}
		p.stalled.Store(true)
		p.log.Warn().Err(err).Str("stream", r.StreamID).Uint64("revision", r.Revision).Str("event_id", r.ID).
			Str("retry_in", backoff.String()).Msg("decoding an event failed for now; retrying")
		select {
		case <-ctx.Done():
			return env, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// applyDecoded applies one decoded event. An event that cannot be decoded
// or applied for good is logged and skipped, so one bad event does not stop
// every read model; Failures counts them.
func (p *Projector) applyDecoded(r eventstore.RecordedEvent, env eventstore.Envelope, err error) {
	if err == nil {
		err = p.models.Apply(env)
	}
	if err != nil {
		p.failures.Add(1)
		p.models.Skip(r.Position)
		p.log.Error().Err(err).Str("stream", r.StreamID).Uint64("revision", r.Revision).Str("event_type", r.Type).Str("event_id", r.ID).Msg("event skipped by projector")
	}
}
