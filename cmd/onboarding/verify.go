package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/readmodel"
)

const verifyUsage = `Usage: onboarding verify [flags]
       onboarding verify --file FILE

Without --file, verify reads the event store and checks:
  1. the hash chain of every project stream, reading $all in order. Each
     event's hash must match its type, data, metadata and the hash of the
     previous event of its stream, and no revision may be missing. The first
     broken event of each broken stream is printed by stream and revision.
  2. the read models. They are rebuilt from $all as serve does at start,
     each project's stream is then replayed on its own, and every field
     where the two differ is printed by project id and JSON field path.

With --file, verify checks a file written by export offline, without a
store: every line must parse and every chain in the file must be whole. The
store flags are not used then. A chain cannot show events cut from the end
of a stream, so compare the event count with the source when that matters.

The embedded store can be open in one process only, so stop the server
first.

Exit status: 0 when everything verifies; 1 when a chain is broken, a line
does not parse, an event cannot be applied or a read model differs; 2 when
the check could not run.
`

// Exit statuses of verify other than 0.
const (
	exitVerifyFailed = 1
	exitVerifyNotRun = 2
)

// exitError is an error that sets the exit status of the process.
type exitError struct {
	status int
	err    error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitStatus returns the exit status for an error that a command returned.
func exitStatus(err error) int {
	var exit *exitError
	if errors.As(err, &exit) {
		return exit.status
	}
	return 1
}

// notRun marks err as a failure to run the check, unless it is a request
// for help.
func notRun(err error) error {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &exitError{status: exitVerifyNotRun, err: err}
}

func verify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newStoreCommand("verify", verifyUsage, getenv, stderr)
	file := cmd.fs.String("file", "", "path of a JSON Lines file written by export to check offline, without a store; - reads standard input")
	if err := cmd.parse(args); err != nil {
		return notRun(err)
	}
	log, status := newCommandLogger(cmd.cfg, stderr)
	if *file != "" {
		return verifyFile(ctx, *file, stdout, status, log)
	}
	return verifyStore(ctx, cmd.cfg, stdout, status, log)
}

// verifyStore checks the hash chains of the store and compares the read
// models rebuilt from $all with a replay of each stream.
func verifyStore(ctx context.Context, cfg Config, stdout io.Writer, status *statusLine, log zerolog.Logger) error {
	store, err := openExistingStore(cfg, log)
	if err != nil {
		return notRun(err)
	}
	defer store.Close()
	codec, keys, err := openCodec(ctx, cfg, store, false, log)
	if err != nil {
		return notRun(err)
	}
	defer keys.Close()

	chains, elapsed, err := verifyChains(ctx, store, status, log)
	if err != nil {
		return notRun(err)
	}
	printChainSummary(stdout, chains, elapsed)
	for _, failure := range chains.Failures {
		fmt.Fprintf(stdout, "broken chain: %v\n", failure)
	}

	rebuilt, err := rebuildReadModels(ctx, store, codec, "verify: rebuild", status, log)
	if err != nil {
		return notRun(err)
	}
	fmt.Fprintf(stdout, "rebuild:   %d events, %d projects, %d failed to apply\n",
		rebuilt.events, rebuilt.models.Dashboard().TotalProjects, rebuilt.failures)

	replays, err := replayStreams(ctx, store, codec, rebuilt, status, log)
	if err != nil {
		return notRun(err)
	}
	differences, failedReplays := 0, 0
	for _, r := range replays {
		if r.err != nil {
			failedReplays++
			fmt.Fprintf(stdout, "replay failed: project %s: %v\n", r.projectID, r.err)
		}
		for _, d := range r.differences {
			differences++
			fmt.Fprintf(stdout, "difference: project %s: %s: rebuilt from $all %s, replayed from its stream %s\n",
				r.projectID, d.Path, shownValue(d.Rebuilt), shownValue(d.Replayed))
		}
	}
	fmt.Fprintf(stdout, "replay:    %d streams replayed one by one, %d differences, %d failed\n", len(replays), differences, failedReplays)

	if len(chains.Failures) == 0 && rebuilt.failures == 0 && differences == 0 && failedReplays == 0 {
		fmt.Fprintln(stdout, "verify:    ok")
		return nil
	}
	summary := fmt.Sprintf("%s, %s failed to apply, %s, %s",
		plural(len(chains.Failures), "broken chain"), plural(int(rebuilt.failures), "event"), plural(differences, "difference"), plural(failedReplays, "failed stream replay"))
	fmt.Fprintf(stdout, "verify:    FAILED: %s\n", summary)
	return &exitError{status: exitVerifyFailed, err: errors.New("verification failed: " + summary)}
}

func shownValue(v string) string {
	if v == "" {
		return "(absent)"
	}
	return v
}

func printChainSummary(w io.Writer, chains *eventstore.ChainVerifier, elapsed time.Duration) {
	fmt.Fprintf(w, "chain:     %d streams, %d events in %s, %.0f events/s, %d broken\n",
		chains.Streams(), chains.Events, elapsed.Round(time.Microsecond), eventsPerSecond(int64(chains.Events), elapsed), len(chains.Failures))
}

// verifyChains reads the project streams of $all in order and checks the
// hash chain of each. It returns the verifier with its failures and the
// time the check took, reading included. One goroutine reads the next batch
// while this one hashes the last, so the two share the CPUs.
func verifyChains(ctx context.Context, store eventstore.Store, status *statusLine, log zerolog.Logger) (*eventstore.ChainVerifier, time.Duration, error) {
	verifier := eventstore.NewChainVerifier()
	var checked atomic.Int64
	report := startProgress("verify: chains", checked.Load, status, log, progressLogInterval)
	defer report.Stop()

	started := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []eventstore.RecordedEvent, 2)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- readAllProjects(ctx, store, func(events []eventstore.RecordedEvent) error {
			select {
			case batches <- events:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	for events := range batches {
		for _, e := range events {
			verifier.Add(e)
		}
		checked.Add(int64(len(events)))
	}
	if err := <-readErr; err != nil {
		return nil, 0, err
	}
	return verifier, time.Since(started), nil
}

// streamReplay is the outcome of replaying one project's stream on its own
// and comparing the view with the read model rebuilt from $all.
type streamReplay struct {
	projectID string
	// events counts the events replayed.
	events      int
	differences []fieldDifference
	// err is a stream that could not be read, decoded or replayed, or a
	// project that is missing from the rebuilt read models.
	err error
}

// replayStreams replays every stream that the rebuild read, on all CPUs,
// and returns the outcomes in the rebuild's stream order. Each stream is
// read with ReadStream, which takes the store's stream index rather than
// $all, and is replayed up to the rebuild's last position, so events
// appended since then are left out.
func replayStreams(ctx context.Context, store eventstore.Store, codec *eventstore.Codec, rebuilt *rebuild, status *statusLine, log zerolog.Logger) ([]streamReplay, error) {
	last := rebuilt.models.Position()
	results := make([]streamReplay, len(rebuilt.streams))
	var next, replayed atomic.Int64
	report := startProgress("verify: stream replays", replayed.Load, status, log, progressLogInterval)
	defer report.Stop()
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(results)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(results) {
					return
				}
				results[i] = replayStream(ctx, store, codec, rebuilt.models, last, rebuilt.streams[i])
				replayed.Add(int64(results[i].events))
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return results, nil
}

func replayStream(ctx context.Context, store eventstore.Store, codec *eventstore.Codec, models *readmodel.Models, last eventstore.Position, stream string) streamReplay {
	projectID, _ := eventstore.ProjectIDOf(stream)
	result := streamReplay{projectID: projectID}
	events, err := store.ReadStream(ctx, stream, 0, 0)
	if err != nil {
		result.err = fmt.Errorf("read stream %s: %w", stream, err)
		return result
	}

	envelopes := make([]eventstore.Envelope, 0, len(events))
	for _, e := range events {
		if last.Less(e.Position) {
			break
		}
		env, err := codec.Decode(ctx, e)
		if err != nil {
			result.err = err
			return result
		}
		envelopes = append(envelopes, env)
	}
	result.events = len(envelopes)
	replayed, err := readmodel.Replay(envelopes)
	if err != nil {
		result.err = fmt.Errorf("replay stream %s: %w", stream, err)
		return result
	}

	rebuiltView, ok := models.Project(projectID)
	if !ok {
		result.err = fmt.Errorf("the stream %s replays, but the read models rebuilt from $all have no such project", stream)
		return result
	}
	// Comparing the structs first is much faster than the JSON comparison,
	// which only runs to name the fields when they differ.
	if !reflect.DeepEqual(rebuiltView, replayed) {
		result.differences, result.err = diffViews(rebuiltView, replayed)
	}
	return result
}

// plural returns n with noun, adding "s" unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
