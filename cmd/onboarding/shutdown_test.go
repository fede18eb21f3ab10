package main

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// Close leaves no goroutine behind: subscriptions, the projector, the
// store's writer and the HTTP server all end.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s := startServer(t, t.TempDir())
	id := s.startProject(t, "acme")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "graphql-transport-ws")
	c.subscribe(t, ctx, "1", projectChangedSubscription, map[string]any{"id": id})
	waitSubscribers(t, ctx, s, 1)
	s.must(t, `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 1, description: "work"}) { project { version } } }`, map[string]any{"id": id}, "", nil)
	c.next(t, ctx, "1")

	s.stop(t)
	c.conn.CloseNow()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
