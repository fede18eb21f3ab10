package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"

	"github.com/integrationplatform/onboarding/eventstore"
)

const logTimeMutation = `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 0.25, description: "load"}) { project { version } } }`

// writeLoad logs time on the projects from one goroutine per project until
// total mutations are done or the time limit passes, and returns the
// number done. Failures are reported with t.Errorf, because t.Fatal must
// not be called outside the test goroutine.
func writeLoad(t *testing.T, s *testServer, projects []string, total int, limit time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(limit)
	var done atomic.Int64
	var wg sync.WaitGroup
	for _, id := range projects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if done.Add(1) > int64(total) {
					done.Add(-1)
					return
				}
				if res := s.do(t, logTimeMutation, map[string]any{"id": id}); len(res.Errors) > 0 {
					t.Errorf("logTime on %s: %+v", id, res.Errors)
					return
				}
			}
		}()
	}
	wg.Wait()
	return int(done.Load())
}

// storedPositions returns the cursors of every project event in $all order.
func storedPositions(t *testing.T, s *testServer) []string {
	t.Helper()
	records, err := s.store.ReadAll(context.Background(), eventstore.Start, 0, eventstore.Filter{StreamPrefix: eventstore.StreamPrefix})
	if err != nil {
		t.Fatal(err)
	}
	cursors := make([]string, len(records))
	for i, rec := range records {
		cursors[i] = rec.Position.Cursor()
	}
	return cursors
}

const projectEventsAfter = `subscription($after: String) { projectEvents(after: $after) { projectId streamVersion position } }`

type receivedEvent struct {
	ProjectID     string
	StreamVersion int
	Position      string
}

// nextEvent returns the next projectEvents result of subscription "1", or
// false when none arrives within a second, which ends the connection.
func nextEvent(t *testing.T, ctx context.Context, c *wsClient) (receivedEvent, bool) {
	t.Helper()
	readCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	for {
		var msg wsMessage
		if err := wsjson.Read(readCtx, c.conn, &msg); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("read from socket: %v", err)
			}
			return receivedEvent{}, false
		}
		switch msg.Type {
		case "ping":
			c.send(t, ctx, wsMessage{Type: "pong"})
			continue
		case "pong":
			continue
		}
		var result struct {
			Data   struct{ ProjectEvents receivedEvent }
			Errors []gqlError
		}
		if msg.Type != "next" || msg.ID != "1" {
			t.Fatalf("message %s %s %s, want next for 1", msg.Type, msg.ID, msg.Payload)
		}
		if err := json.Unmarshal(msg.Payload, &result); err != nil || len(result.Errors) > 0 {
			t.Fatalf("result %s: %v %+v", msg.Payload, err, result.Errors)
		}
		return result.Data.ProjectEvents, true
	}
}

func TestProjectEventsResumeAfterDrops(t *testing.T) {
	s := startServer(t, t.TempDir())
	var projects []string
	for i := range 4 {
		projects = append(projects, s.startProject(t, fmt.Sprintf("customer-%d", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var written atomic.Int64
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		written.Store(int64(writeLoad(t, s, projects, 2000, 10*time.Second)))
	}()

	// The reader drops its connection after a random number of events, and
	// sometimes before reading any, and resumes from the last position.
	rng := rand.New(rand.NewPCG(1, 2))
	var received []receivedEvent
	last := eventstore.Start.Cursor()
	reconnects := 0
	var want []string
	for {
		select {
		case <-writerDone:
			if want == nil {
				want = storedPositions(t, s)
			}
		default:
		}
		if want != nil && len(received) >= len(want) {
			break
		}
		c := dialWS(t, ctx, s, "graphql-transport-ws")
		c.subscribe(t, ctx, "1", projectEventsAfter, map[string]any{"after": last})
		budget := rng.IntN(150)
		for n := 0; n < budget && (want == nil || len(received) < len(want)); n++ {
			event, ok := nextEvent(t, ctx, c)
			if !ok {
				break
			}
			received = append(received, event)
			last = event.Position
		}
		c.conn.CloseNow()
		reconnects++
	}

	t.Logf("%d events written, %d received over %d connections", written.Load(), len(received), reconnects)
	if len(received) != len(want) {
		t.Fatalf("received %d events, store holds %d", len(received), len(want))
	}
	for i := range want {
		if received[i].Position != want[i] {
			t.Fatalf("event %d has position %s, store order has %s", i, received[i].Position, want[i])
		}
	}
	versions := map[string]int{}
	for _, e := range received {
		if e.StreamVersion != versions[e.ProjectID] {
			t.Fatalf("project %s: stream version %d, want %d", e.ProjectID, e.StreamVersion, versions[e.ProjectID])
		}
		versions[e.ProjectID]++
	}
}

func TestProjectChangedAfterCursor(t *testing.T) {
	s := startServer(t, t.TempDir())
	id := s.startProject(t, "acme")
	other := s.startProject(t, "globex")
	var cursors []string
	for range 3 {
		var payload struct {
			Project struct{ Version int }
		}
		s.must(t, logTimeMutation, map[string]any{"id": id}, "logTime", &payload)
		s.must(t, logTimeMutation, map[string]any{"id": other}, "logTime", nil)
	}
	for _, e := range s.fullHistory(t, id) {
		cursors = append(cursors, e.Position)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	c := dialWS(t, ctx, s, "graphql-transport-ws")
	c.subscribe(t, ctx, "1", `subscription($id: ID!, $after: String) {
  projectChanged(id: $id, after: $after) { project { id version loggedHours } event { type streamVersion position actor { userId } data } }
}`, map[string]any{"id": id, "after": cursors[1]})
	waitSubscribers(t, ctx, s, 1)
	s.must(t, logTimeMutation, map[string]any{"id": id}, "", nil)

	for version := 2; version <= 4; version++ {
		var change projectChange
		if err := json.Unmarshal(c.next(t, ctx, "1"), &change); err != nil {
			t.Fatal(err)
		}
		got := change.ProjectChanged
		if got.Event.StreamVersion != version {
			t.Errorf("event stream version %d, want %d", got.Event.StreamVersion, version)
		}
		if got.Project.Version != version+1 {
			t.Errorf("project version %d after event %d, want %d", got.Project.Version, version, version+1)
		}
		if want := 0.25 * float64(version); got.Project.LoggedHours != want {
			t.Errorf("logged hours %v after event %d, want %v", got.Project.LoggedHours, version, want)
		}
	}
}

func TestSubscriptionAfterInvalidCursor(t *testing.T) {
	s := startServer(t, t.TempDir())
	id := s.startProject(t, "acme")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "graphql-transport-ws")
	c.subscribe(t, ctx, "1", `subscription($id: ID!) { projectChanged(id: $id, after: "nonsense") { event { type } } }`, map[string]any{"id": id})

	// gqlgen sends an error of the resolver itself as a result with errors.
	msg := c.read(t, ctx)
	var result struct{ Errors []gqlError }
	if err := json.Unmarshal(msg.Payload, &result); err != nil || len(result.Errors) != 1 {
		t.Fatalf("message %s %s, want one error: %v", msg.Type, msg.Payload, err)
	}
	errs := result.Errors
	if code := errs[0].Extensions["code"]; code != "BAD_USER_INPUT" {
		t.Errorf("code %v, want BAD_USER_INPUT", code)
	}
	if !strings.Contains(errs[0].Message, `"nonsense"`) {
		t.Errorf("message %q does not name the cursor", errs[0].Message)
	}
}

// bigProjectSelection selects most of the project, so that a client that
// does not read fills the socket buffers after a few hundred changes.
const bigProjectSelection = `subscription($id: ID!) { projectChanged(id: $id) { event { position data }
  project { id version phases { id state steps { id state missing description { en sv } questions { key text { en sv } options { id label { en sv } } } } } } } }`

func TestSlowSubscriberDropped(t *testing.T) {
	for _, transport := range []string{"websocket", "sse"} {
		t.Run(transport, func(t *testing.T) {
			s := startServer(t, t.TempDir())
			id := s.startProject(t, "acme")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			var c *wsClient
			var lines <-chan string
			if transport == "websocket" {
				c = dialWS(t, ctx, s, "graphql-transport-ws")
				c.subscribe(t, ctx, "1", bigProjectSelection, map[string]any{"id": id})
			} else {
				lines = subscribeSSE(t, ctx, s, bigProjectSelection, map[string]any{"id": id})
			}
			waitSubscribers(t, ctx, s, 1)

			// The client reads nothing until the feed has dropped it.
			dropped := make(chan struct{})
			go func() {
				defer close(dropped)
				for s.models.Feed().Dropped() == 0 && ctx.Err() == nil {
					s.do(t, logTimeMutation, map[string]any{"id": id})
				}
			}()
			<-dropped
			if s.models.Feed().Dropped() != 1 {
				t.Fatalf("feed dropped %d subscribers, want 1", s.models.Feed().Dropped())
			}

			var final []gqlError
			if transport == "websocket" {
				for {
					var msg wsMessage
					if err := wsjson.Read(ctx, c.conn, &msg); err != nil {
						t.Fatalf("read: %v", err)
					}
					switch msg.Type {
					case "next", "pong":
						continue
					case "ping":
						c.send(t, ctx, wsMessage{Type: "pong"})
						continue
					}
					if msg.Type != "error" {
						t.Fatalf("message %s %s, want error", msg.Type, msg.Payload)
					}
					if err := json.Unmarshal(msg.Payload, &final); err != nil {
						t.Fatal(err)
					}
					break
				}
			} else {
				for data := range lines {
					var msg struct{ Errors []gqlError }
					if err := json.Unmarshal([]byte(data), &msg); err != nil {
						t.Fatalf("decode SSE data %q: %v", data, err)
					}
					if len(msg.Errors) > 0 {
						final = msg.Errors
						break
					}
				}
			}
			if len(final) != 1 {
				t.Fatalf("final errors %+v, want one", final)
			}
			if code := final[0].Extensions["code"]; code != "SUBSCRIBER_TOO_SLOW" {
				t.Errorf("code %v, want SUBSCRIBER_TOO_SLOW", code)
			}
			if final[0].Extensions["lastPosition"] == nil {
				t.Errorf("error %+v has no lastPosition", final[0])
			}
			if !strings.Contains(final[0].Message, "after") {
				t.Errorf("message %q does not tell how to resume", final[0].Message)
			}
		})
	}
}
