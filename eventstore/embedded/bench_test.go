package embedded

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/integrationplatform/onboarding/eventstore"
)

var readAllEvents = flag.Int("readall-events", 100_000,
	"number of events in the store that BenchmarkReadAll reads")

// benchEvent returns an event of 311 bytes: a 36-byte id, a 15-byte type,
// 219 bytes of data and 41 bytes of metadata.
func benchEvent() eventstore.EventData {
	data := fmt.Appendf(nil, `{"questionId":"q-17","answer":"%s"}`, bytes.Repeat([]byte("x"), 186))
	return eventstore.EventData{
		ID:       uuid.NewString(),
		Type:     "AnswerSubmitted",
		Data:     data,
		Metadata: []byte(`{"userId":"u-1","correlationId":"c-0001"}`),
	}
}

func openBenchStore(b *testing.B) *Store {
	b.Helper()
	store, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatalf("Open failed: %v", err)
	}
	b.Cleanup(func() {
		if err := store.Close(); err != nil {
			b.Errorf("Close failed: %v", err)
		}
	})
	return store
}

// BenchmarkAppend appends one event per Append from 1 and from 64
// goroutines, each to its own stream. events/s is the throughput of all
// appenders together.
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 64} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			store := openBenchStore(b)
			ctx := context.Background()
			events := make([]eventstore.EventData, b.N)
			for i := range events {
				events[i] = benchEvent()
			}
			var next atomic.Int64
			b.ResetTimer()

			var wg sync.WaitGroup
			for a := range appenders {
				wg.Go(func() {
					stream := fmt.Sprintf("project-%d", a)
					for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
						if _, err := store.Append(ctx, stream, eventstore.Any(), events[i]); err != nil {
							b.Errorf("Append failed: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()

			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			stats := store.Stats()
			b.ReportMetric(float64(stats.Appends)/float64(stats.Commits), "appends/commit")
		})
	}
}

// BenchmarkWriteFsync is the reference for BenchmarkAppend: it appends 300
// bytes to a plain file and fsyncs it, in the same kind of temporary
// directory.
func BenchmarkWriteFsync(b *testing.B) {
	file, err := os.Create(filepath.Join(b.TempDir(), "fsync.bin"))
	if err != nil {
		b.Fatalf("create file failed: %v", err)
	}
	defer file.Close()
	record := bytes.Repeat([]byte("x"), 300)

	for b.Loop() {
		if _, err := file.Write(record); err != nil {
			b.Fatalf("write failed: %v", err)
		}
		if err := file.Sync(); err != nil {
			b.Fatalf("fsync failed: %v", err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkReadAll reads all of a store of -readall-events events in pages
// of 4096, as a projection rebuild does. events/s counts events read.
func BenchmarkReadAll(b *testing.B) {
	const (
		streams      = 1000
		appendEvents = 100
		pageSize     = 4096
	)
	store := openBenchStore(b)
	ctx := context.Background()
	total := *readAllEvents

	// Fill the store from several goroutines, so that group commit keeps
	// the setup short.
	var filled atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := w; ; n += 8 {
				count := min(appendEvents, total-n*appendEvents)
				if count <= 0 {
					return
				}
				events := make([]eventstore.EventData, count)
				for i := range events {
					events[i] = benchEvent()
				}
				stream := fmt.Sprintf("project-%d", n%streams)
				if _, err := store.Append(ctx, stream, eventstore.Any(), events...); err != nil {
					b.Errorf("Append failed: %v", err)
					return
				}
				filled.Add(int64(count))
			}
		})
	}
	wg.Wait()
	if filled.Load() != int64(total) {
		b.Fatalf("filled the store with %d events, expected %d", filled.Load(), total)
	}

	read := 0
	for b.Loop() {
		after := eventstore.Start
		for {
			events, err := store.ReadAll(ctx, after, pageSize, eventstore.Filter{})
			if err != nil {
				b.Fatalf("ReadAll failed: %v", err)
			}
			if len(events) == 0 {
				break
			}
			read += len(events)
			after = events[len(events)-1].Position
		}
	}
	if read != total*b.N {
		b.Fatalf("read %d events in %d passes, expected %d per pass", read, b.N, total)
	}
	b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "events/s")
}
