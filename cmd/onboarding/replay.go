package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/readmodel"
)

const replayUsage = `Usage: onboarding replay [flags]

Rebuilds every read model from the whole event log into memory, with the
projector that serve runs at start, and prints the number of events and
projects, the time taken and the events per second. Progress is shown on
stderr: a line redrawn in place on a terminal, otherwise a log line every 5
seconds. The exit status is 1 when an event could not be applied; the log
names each such event.

The embedded store can be open in one process only, so stop the server
first.
`

func replay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newStoreCommand("replay", replayUsage, getenv, stderr)
	if err := cmd.parse(args); err != nil {
		return err
	}
	log, status := newCommandLogger(cmd.cfg, stderr)
	store, err := openExistingStore(cmd.cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	codec, keys, err := openCodec(ctx, cmd.cfg, store, false, log)
	if err != nil {
		return err
	}
	defer keys.Close()

	rebuild, err := rebuildReadModels(ctx, store, codec, "replay", status, log)
	if err != nil {
		return err
	}
	projects := rebuild.models.Dashboard().TotalProjects
	fmt.Fprintf(stdout, "events:    %d\n", rebuild.events)
	fmt.Fprintf(stdout, "projects:  %d\n", projects)
	fmt.Fprintf(stdout, "elapsed:   %s\n", rebuild.elapsed.Round(time.Microsecond))
	fmt.Fprintf(stdout, "events/s:  %.0f\n", eventsPerSecond(rebuild.events, rebuild.elapsed))
	fmt.Fprintf(stdout, "failed:    %d\n", rebuild.failures)
	if rebuild.failures > 0 {
		return fmt.Errorf("%d of %d events could not be applied; the log lines above name each one", rebuild.failures, rebuild.events)
	}
	return nil
}

// rebuild is the outcome of rebuilding the read models from the log.
type rebuild struct {
	models *readmodel.Models
	// events counts the events read, including those that failed.
	events   int64
	failures int64
	// streams lists the project streams read, in order of first event.
	streams []string
	elapsed time.Duration
}

// rebuildReadModels rebuilds every read model from store with the
// projector's catch-up, the code that serve runs at start, and stops at the
// end of the log as it was when the catch-up finished.
func rebuildReadModels(ctx context.Context, store eventstore.Store, codec *eventstore.Codec, task string, status *statusLine, log zerolog.Logger) (*rebuild, error) {
	counted := &catchUpStore{Store: store, seen: map[string]bool{}}
	models := readmodel.NewModels()
	projector := readmodel.NewProjector(counted, codec, models, log)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	started := time.Now()
	report := startProgress(task, counted.events.Load, status, log, progressLogInterval)
	defer report.Stop()
	done := make(chan error, 1)
	go func() { done <- projector.Run(runCtx) }()

	select {
	case <-projector.CaughtUp():
	case err := <-done:
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("rebuild read models: %w", err)
	}
	elapsed := time.Since(started)
	report.Stop()
	stop()
	if err := <-done; err != nil {
		return nil, fmt.Errorf("rebuild read models: %w", err)
	}
	return &rebuild{
		models:   models,
		events:   counted.events.Load(),
		failures: projector.Failures(),
		streams:  counted.streams,
		elapsed:  elapsed,
	}, nil
}

// catchUpStore passes reads to the store it wraps and counts the events
// and streams they return. Its SubscribeAll waits for ctx to end, so a
// projector stops at the end of its catch-up instead of following events
// appended later. ReadAll must not be called concurrently.
type catchUpStore struct {
	eventstore.Store
	events  atomic.Int64
	seen    map[string]bool
	streams []string
}

// ReadAll implements eventstore.Store.
func (s *catchUpStore) ReadAll(ctx context.Context, after eventstore.Position, limit int, filter eventstore.Filter) ([]eventstore.RecordedEvent, error) {
	events, err := s.Store.ReadAll(ctx, after, limit, filter)
	for _, e := range events {
		if !s.seen[e.StreamID] {
			s.seen[e.StreamID] = true
			s.streams = append(s.streams, e.StreamID)
		}
	}
	s.events.Add(int64(len(events)))
	return events, err
}

// SubscribeAll implements eventstore.Store by waiting for ctx to end.
func (s *catchUpStore) SubscribeAll(ctx context.Context, _ eventstore.Position, _ eventstore.Filter) (eventstore.Subscription, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
