package esdb

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/embedded"
	"github.com/integrationplatform/onboarding/eventstore/esdb/esdbtest"
)

// benchStores opens each store the benchmarks compare: the embedded store
// and the adapter over the in-process server. The in-process server keeps
// its log in memory, so its figures measure the adapter, the client and
// the gRPC protocol, not EventStoreDB itself.
func benchStores(b *testing.B) map[string]eventstore.Store {
	dir := b.TempDir()
	local, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { local.Close() })
	remote, err := Open(Options{ConnectionString: esdbtest.Start(b).ConnectionString(), Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { remote.Close() })
	return map[string]eventstore.Store{"embedded": local, "esdb-in-process": remote}
}

func benchEvent() eventstore.EventData {
	return eventstore.EventData{ID: uuid.NewString(), Type: "TimeLogged", Data: []byte(`{"hours":1.5,"description":"configuration of the order flow","stepId":"order-flow"}`),
		Metadata: []byte(`{"actor":{"userId":"engineer-1","role":"engineer"},"correlationId":"3f1c","schemaVersion":1,"occurredAt":"2026-12-04T10:00:00Z"}`)}
}

func BenchmarkAdapterAppend(b *testing.B) {
	for name, store := range benchStores(b) {
		for _, appenders := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/appenders=%d", name, appenders), func(b *testing.B) {
				work := make(chan int)
				var wg sync.WaitGroup
				for w := range appenders {
					wg.Add(1)
					go func() {
						defer wg.Done()
						stream := fmt.Sprintf("project-bench-%d-%s", w, uuid.NewString())
						for range work {
							if _, err := store.Append(context.Background(), stream, eventstore.Any(), benchEvent()); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				b.ResetTimer()
				for i := range b.N {
					work <- i
				}
				close(work)
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

func BenchmarkAdapterCatchUp(b *testing.B) {
	const events = 20000
	for name, store := range benchStores(b) {
		prefix := "project-catchup-" + uuid.NewString()[:8]
		for i := 0; i < events; i += 100 {
			batch := make([]eventstore.EventData, 100)
			for j := range batch {
				batch[j] = benchEvent()
			}
			if _, err := store.Append(context.Background(), fmt.Sprintf("%s-%d", prefix, i/100), eventstore.NoStream(), batch...); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				ctx, cancel := context.WithCancel(context.Background())
				sub, err := store.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: prefix})
				if err != nil {
					b.Fatal(err)
				}
				for n := 0; n < events; n++ {
					if _, err := sub.Next(ctx); err != nil {
						b.Fatal(err)
					}
				}
				sub.Close()
				cancel()
			}
			b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
