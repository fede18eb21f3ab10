package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/embedded"
	"github.com/integrationplatform/onboarding/readmodel"
)

var (
	benchLogEvents = flag.Int("bench-events", 200_000, "approximate number of events BenchmarkLogCommands stores before it measures")
	benchLogDir    = flag.String("bench-dir", "", "data directory that BenchmarkLogCommands fills on first use and reuses later; empty means a new temporary directory per run")
)

// benchLogMarker is the file in a filled -bench-dir that records its number
// of events.
const benchLogMarker = "bench-events"

// BenchmarkLogCommands measures the offline commands on an embedded store
// of whole onboarding runs: replay and verify as the binary runs them, and
// the chain check of verify alone. The references read the same events
// without checking them, and hash events already in memory.
func BenchmarkLogCommands(b *testing.B) {
	dir, total := benchmarkLog(b)
	b.Logf("log of %d events in %s", total, dir)

	b.Run("replay", func(b *testing.B) {
		for range b.N {
			res := runBenchCommand(b, "replay", "--data-dir", dir, "--log-level", "warn")
			if !strings.Contains(res, fmt.Sprintf("events:    %d\n", total)) {
				b.Fatalf("replay output does not count %d events:\n%s", total, res)
			}
		}
		b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("verify", func(b *testing.B) {
		for range b.N {
			res := runBenchCommand(b, "verify", "--data-dir", dir, "--log-level", "warn")
			if !strings.Contains(res, "verify:    ok") {
				b.Fatalf("verify did not pass:\n%s", res)
			}
		}
		b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "events/s")
	})

	store, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	b.Run("chain", func(b *testing.B) {
		for range b.N {
			chains, _, err := verifyChains(context.Background(), store, nil, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			if chains.Events != total || len(chains.Failures) != 0 {
				b.Fatalf("checked %d of %d events, %d broken chains", chains.Events, total, len(chains.Failures))
			}
		}
		b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("read-only", func(b *testing.B) {
		for range b.N {
			count := 0
			err := readAllProjects(context.Background(), store, func(events []eventstore.RecordedEvent) error {
				count += len(events)
				return nil
			})
			if err != nil || count != total {
				b.Fatalf("read %d of %d events: %v", count, total, err)
			}
		}
		b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("chain-in-memory", func(b *testing.B) {
		var events []eventstore.RecordedEvent
		err := readAllProjects(context.Background(), store, func(batch []eventstore.RecordedEvent) error {
			events = append(events, batch...)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			chains := eventstore.NewChainVerifier()
			for _, e := range events {
				chains.Add(e)
			}
			if len(chains.Failures) != 0 {
				b.Fatal(chains.Failures[0])
			}
		}
		b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// runBenchCommand runs the program in-process and returns its output. It
// fails the benchmark on a non-zero exit status.
func runBenchCommand(b *testing.B, args ...string) string {
	b.Helper()
	var stdout, stderr bytes.Buffer
	if status := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr); status != 0 {
		b.Fatalf("%s exit status %d\nstdout:\n%s\nstderr:\n%s", args[0], status, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// benchmarkLog returns a data directory that holds about -bench-events
// events, and their exact number.
func benchmarkLog(b *testing.B) (string, int) {
	dir := *benchLogDir
	if dir == "" {
		dir = b.TempDir()
	} else if marker, err := os.ReadFile(filepath.Join(dir, benchLogMarker)); err == nil {
		total, err := strconv.Atoi(strings.TrimSpace(string(marker)))
		if err != nil {
			b.Fatalf("%s in %s: %v", benchLogMarker, dir, err)
		}
		return dir, total
	} else if _, err := os.Stat(filepath.Join(dir, embedded.FileName)); !errors.Is(err, fs.ErrNotExist) {
		b.Fatalf("%s holds a store that this benchmark did not fill (%v); pass a new directory as -bench-dir", dir, err)
	}

	total := fillBenchLog(b, dir, *benchLogEvents)
	if err := os.WriteFile(filepath.Join(dir, benchLogMarker), []byte(strconv.Itoa(total)+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	return dir, total
}

// fillBenchLog stores copies of the example run, each under a new project
// id, until about n events are in the store in dir, and returns their
// number. The example is played once through a real server. Each copy keeps
// its events' data and metadata, and gets new event ids and its own chain.
func fillBenchLog(b *testing.B, dir string, n int) int {
	template, templateID := exampleRunEvents(b)
	projects := (n + len(template) - 1) / len(template)

	store, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()

	work := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failure error
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				id := uuid.NewString()
				events, err := copyRun(template, templateID, id)
				if err == nil {
					_, err = store.Append(context.Background(), eventstore.StreamName(id), eventstore.NoStream(), events...)
				}
				if err != nil {
					mu.Lock()
					failure = err
					mu.Unlock()
				}
			}
		}()
	}
	for range projects {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	if failure != nil {
		b.Fatal(failure)
	}
	return projects * len(template)
}

// exampleRunEvents plays the example run through a real server on a
// temporary directory and returns its stored events and project id.
func exampleRunEvents(b *testing.B) ([]eventstore.RecordedEvent, string) {
	doc, err := os.ReadFile("../../examples/onboarding-run.graphql")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	s := startServer(b, dir)
	id, err := Play(context.Background(), http.DefaultClient, s.URL, "onboarding-run.graphql", string(doc), io.Discard)
	if err != nil {
		b.Fatalf("play example: %v", err)
	}
	s.stop(b)

	store, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	events, err := store.ReadStream(context.Background(), eventstore.StreamName(id), 0, readmodel.CatchUpBatch)
	if err != nil {
		b.Fatal(err)
	}
	return events, id
}

// copyRun returns the events of template with templateID replaced by id in
// their data, new event ids, and metadata sealed into a new chain.
func copyRun(template []eventstore.RecordedEvent, templateID, id string) ([]eventstore.EventData, error) {
	events := make([]eventstore.EventData, len(template))
	prevHash := ""
	for i, e := range template {
		metadata, _, ok := eventstore.SplitSeal(e.Metadata)
		if !ok {
			return nil, fmt.Errorf("event %s of the example has no hash member", e.ID)
		}
		data := bytes.ReplaceAll(e.Data, []byte(templateID), []byte(id))
		var sealed []byte
		sealed, prevHash = eventstore.SealMetadata(prevHash, e.Type, data, metadata)
		events[i] = eventstore.EventData{ID: uuid.NewString(), Type: e.Type, Data: data, Metadata: sealed}
	}
	return events, nil
}
