package esdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/esdb/esdbtest"
	"github.com/integrationplatform/onboarding/eventstore/storetest"
)

// RealServerEnv names the environment variable with the connection string
// of a real EventStoreDB or KurrentDB server for the tests.
const RealServerEnv = "ONBOARDING_TEST_ESDB_URL"

func openStore(t *testing.T, connectionString string) *Store {
	t.Helper()
	s, err := Open(Options{ConnectionString: connectionString, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformanceInProcessServer(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		return openStore(t, esdbtest.Start(t).ConnectionString())
	})
}

func TestConformanceRealServer(t *testing.T) {
	url := os.Getenv(RealServerEnv)
	if url == "" {
		t.Skipf("real-server run skipped: set %s to a connection string such as esdb://127.0.0.1:2113?tls=false", RealServerEnv)
	}
	storetest.Run(t, func(t *testing.T) eventstore.Store { return openStore(t, url) })
}

func TestOpenRejectsBadConnectionString(t *testing.T) {
	_, err := Open(Options{ConnectionString: "http://127.0.0.1:2113"})
	if err == nil {
		t.Fatal("Open accepted an http:// connection string")
	}
}

func appendOne(ctx context.Context, s *Store, stream string) (eventstore.AppendResult, error) {
	return s.Append(ctx, stream, eventstore.Any(), eventstore.EventData{ID: uuid.NewString(), Type: "Tested", Data: []byte(`{}`), Metadata: []byte(`{}`)})
}

// Appends fail with ErrUnavailable while the server is down and succeed
// again after it restarts on the same port; every acknowledged append is
// stored.
func TestAppendsSurviveServerRestart(t *testing.T) {
	srv := esdbtest.Start(t)
	s := openStore(t, srv.ConnectionString())
	stream := "project-" + uuid.NewString()
	acknowledged := 0
	for range 20 {
		if _, err := appendOne(context.Background(), s, stream); err != nil {
			t.Fatalf("append before stop: %v", err)
		}
		acknowledged++
	}

	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	_, err := appendOne(ctx, s, stream)
	cancel()
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("append while stopped returned %v, want ErrUnavailable", err)
	}

	srv.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := appendOne(ctx, s, stream)
		cancel()
		if err == nil {
			acknowledged++
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("append after restart still fails: %v", err)
		}
	}
	events, err := s.ReadStream(context.Background(), stream, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != acknowledged {
		t.Errorf("stream has %d events, %d were acknowledged", len(events), acknowledged)
	}
}

// A subscription resumes after the server restarts and delivers every
// event exactly once, in order.
func TestSubscriptionSurvivesServerRestart(t *testing.T) {
	srv := esdbtest.Start(t)
	s := openStore(t, srv.ConnectionString())
	prefix := "project-" + uuid.NewString()[:8] + "-"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	sub, err := s.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	var mu sync.Mutex
	var appended []string
	write := func(n int) {
		for i := range n {
			id := uuid.NewString()
			stream := fmt.Sprintf("%s%d", prefix, i%3)
			for {
				_, err := s.Append(ctx, stream, eventstore.Any(), eventstore.EventData{ID: id, Type: "Tested", Data: []byte(`{}`), Metadata: []byte(`{}`)})
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Errorf("append gave up: %v", err)
					return
				}
			}
			mu.Lock()
			appended = append(appended, id)
			mu.Unlock()
		}
	}

	write(50)
	received := receive(t, ctx, sub, 50)
	srv.Stop()
	srv.Restart(t)
	write(50)
	received = append(received, receive(t, ctx, sub, 50)...)

	mu.Lock()
	defer mu.Unlock()
	for i := range appended {
		if i >= len(received) || received[i] != appended[i] {
			t.Fatalf("event %d: received %v, appended %v", i, received[min(i, len(received)-1)], appended[i])
		}
	}
}

func receive(t *testing.T, ctx context.Context, sub eventstore.Subscription, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	var last eventstore.Position
	for len(ids) < n {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %d events: %v", len(ids), err)
		}
		if len(ids) > 0 && !last.Less(e.Position) {
			t.Fatalf("event at %s after %s: out of order or repeated", e.Position, last)
		}
		last = e.Position
		ids = append(ids, e.ID)
	}
	return ids
}
