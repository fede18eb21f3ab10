package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// wsMessage is a message of either GraphQL WebSocket protocol.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type wsClient struct {
	conn     *websocket.Conn
	protocol string
}

// dialWS opens a WebSocket with the given subprotocol and completes the
// connection_init handshake.
func dialWS(t *testing.T, ctx context.Context, s *testServer, protocol string) *wsClient {
	t.Helper()
	url := "ws" + strings.TrimPrefix(s.URL, "http")
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{protocol}})
	if err != nil {
		t.Fatalf("dial %s with %s: %v", url, protocol, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	if conn.Subprotocol() != protocol {
		t.Fatalf("server chose subprotocol %q, want %q", conn.Subprotocol(), protocol)
	}
	c := &wsClient{conn: conn, protocol: protocol}
	c.send(t, ctx, wsMessage{Type: "connection_init", Payload: json.RawMessage(`{}`)})
	if msg := c.read(t, ctx); msg.Type != "connection_ack" {
		t.Fatalf("first message %+v, want connection_ack", msg)
	}
	return c
}

func (c *wsClient) send(t *testing.T, ctx context.Context, msg wsMessage) {
	t.Helper()
	if err := wsjson.Write(ctx, c.conn, msg); err != nil {
		t.Fatalf("send %s: %v", msg.Type, err)
	}
}

// read returns the next message that is not a keepalive, answering pings.
func (c *wsClient) read(t *testing.T, ctx context.Context) wsMessage {
	t.Helper()
	for {
		var msg wsMessage
		if err := wsjson.Read(ctx, c.conn, &msg); err != nil {
			t.Fatalf("read from %s socket: %v", c.protocol, err)
		}
		switch msg.Type {
		case "ka", "pong":
			continue
		case "ping":
			c.send(t, ctx, wsMessage{Type: "pong"})
			continue
		}
		return msg
	}
}

func (c *wsClient) subscribe(t *testing.T, ctx context.Context, id, query string, vars map[string]any) {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	kind := "subscribe"
	if c.protocol == "graphql-ws" {
		kind = "start"
	}
	c.send(t, ctx, wsMessage{ID: id, Type: kind, Payload: payload})
}

// waitSubscribers waits until the server's change feed has n subscribers,
// because a subscribe message is handled asynchronously and a mutation sent
// before the subscription is registered would not reach it.
func waitSubscribers(t *testing.T, ctx context.Context, s *testServer, n int) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for s.models.Feed().Subscribers() < n {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("feed has %d subscribers, want %d", s.models.Feed().Subscribers(), n)
		}
	}
}

// nextOf returns the data of the next result of subscription id, skipping
// results of other subscriptions.
func (c *wsClient) nextOf(t *testing.T, ctx context.Context, id string) json.RawMessage {
	t.Helper()
	for {
		msg := c.read(t, ctx)
		if msg.ID == id {
			return c.result(t, msg, id)
		}
	}
}

// next returns the data of the next message, which must be a result of
// subscription id.
func (c *wsClient) next(t *testing.T, ctx context.Context, id string) json.RawMessage {
	t.Helper()
	return c.result(t, c.read(t, ctx), id)
}

func (c *wsClient) result(t *testing.T, msg wsMessage, id string) json.RawMessage {
	t.Helper()
	want := "next"
	if c.protocol == "graphql-ws" {
		want = "data"
	}
	if msg.Type != want || msg.ID != id {
		t.Fatalf("message %s %s %s, want %s for %s", msg.Type, msg.ID, msg.Payload, want, id)
	}
	var result struct {
		Data   json.RawMessage
		Errors []gqlError
	}
	if err := json.Unmarshal(msg.Payload, &result); err != nil || len(result.Errors) > 0 {
		t.Fatalf("result %s: %v %+v", msg.Payload, err, result.Errors)
	}
	return result.Data
}

const projectChangedSubscription = `subscription($id: ID!) {
  projectChanged(id: $id) { project { id version loggedHours } event { type streamVersion position actor { userId } data } }
}`

type projectChange struct {
	ProjectChanged struct {
		Project struct {
			ID          string
			Version     int
			LoggedHours float64
		}
		Event struct {
			Type          string
			StreamVersion int
			Position      string
			Data          string
		}
	}
}

func TestProjectChangedOverWebSocket(t *testing.T) {
	for _, protocol := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(protocol, func(t *testing.T) {
			s := startServer(t, t.TempDir())
			id := s.startProject(t, "acme")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			c := dialWS(t, ctx, s, protocol)
			c.subscribe(t, ctx, "1", projectChangedSubscription, map[string]any{"id": id})
			c.subscribe(t, ctx, "2", `subscription { dashboardChanged { totalProjects loggedHours } }`, nil)
			// The dashboard subscription starts with the current dashboard.
			var dash struct{ DashboardChanged struct{ TotalProjects int } }
			if err := json.Unmarshal(c.next(t, ctx, "2"), &dash); err != nil || dash.DashboardChanged.TotalProjects != 1 {
				t.Fatalf("first dashboard %+v (%v), want 1 project", dash, err)
			}
			waitSubscribers(t, ctx, s, 1)

			for i := 1; i <= 3; i++ {
				s.must(t, `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 1.5, description: "work"}) { project { version } } }`,
					map[string]any{"id": id}, "", nil)
				var change projectChange
				data := c.nextOf(t, ctx, "1")
				if err := json.Unmarshal(data, &change); err != nil {
					t.Fatal(err)
				}
				got := change.ProjectChanged
				if got.Event.Type != "TimeLogged" || got.Event.StreamVersion != i || got.Project.Version != i+1 || got.Project.LoggedHours != 1.5*float64(i) {
					t.Errorf("change %d = %+v, want TimeLogged at stream version %d", i, got, i)
				}
				if got.Event.Position == "" || !strings.Contains(got.Event.Data, `"minutes":90`) {
					t.Errorf("event position %q data %q, want a cursor and the hours", got.Event.Position, got.Event.Data)
				}
			}
		})
	}
}

// On shutdown a WebSocket client receives close code 1001 Going Away, so
// that it reconnects, instead of a message that its subscription ended.
func TestSubscriptionGoingAwayOnShutdown(t *testing.T) {
	for _, protocol := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(protocol, func(t *testing.T) {
			s := startServer(t, t.TempDir())
			id := s.startProject(t, "acme")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c := dialWS(t, ctx, s, protocol)
			c.subscribe(t, ctx, "1", projectChangedSubscription, map[string]any{"id": id})
			waitSubscribers(t, ctx, s, 1)
			// A mutation proves the subscription is live before the shutdown.
			s.must(t, `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 1, description: "work"}) { project { version } } }`, map[string]any{"id": id}, "", nil)
			c.nextOf(t, ctx, "1")

			s.stop(t)
			for {
				var msg wsMessage
				err := wsjson.Read(ctx, c.conn, &msg)
				if err == nil {
					continue
				}
				if status := websocket.CloseStatus(err); status != websocket.StatusGoingAway {
					t.Errorf("socket ended with %v (status %d), want close status 1001 Going Away", err, status)
				}
				return
			}
		})
	}
}

// subscribeSSE posts a subscription with Accept: text/event-stream and
// returns the data lines of the stream.
func subscribeSSE(t *testing.T, ctx context.Context, s *testServer, query string, vars map[string]any) <-chan string {
	t.Helper()
	return subscribeSSEAs(t, ctx, s, "", query, vars)
}

// subscribeSSEAs is subscribeSSE with a bearer token, unless token is "".
func subscribeSSEAs(t *testing.T, ctx context.Context, s *testServer, token, query string, vars map[string]any) <-chan string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type = %q, want text/event-stream", ct)
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && data != "" {
				lines <- data
			}
		}
	}()
	return lines
}

func nextSSE(t *testing.T, ctx context.Context, lines <-chan string, out any) {
	t.Helper()
	select {
	case data, ok := <-lines:
		if !ok {
			t.Fatal("SSE stream ended")
		}
		if err := json.Unmarshal([]byte(data), out); err != nil {
			t.Fatalf("decode SSE data %q: %v", data, err)
		}
	case <-ctx.Done():
		t.Fatal("no SSE event before timeout")
	}
}

func TestProjectEventsOverSSE(t *testing.T) {
	s := startServer(t, t.TempDir())
	first := s.startProject(t, "acme")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lines := subscribeSSE(t, ctx, s, `subscription { projectEvents { projectId type streamVersion } }`, nil)
	waitSubscribers(t, ctx, s, 1)

	second := s.startProject(t, "globex")
	s.must(t, `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 1, description: "work"}) { project { version } } }`, map[string]any{"id": first}, "", nil)

	for _, want := range []string{second + " ProjectStarted 0", first + " TimeLogged 1"} {
		var msg struct {
			Data struct {
				ProjectEvents struct {
					ProjectID, Type string
					StreamVersion   int
				}
			}
		}
		nextSSE(t, ctx, lines, &msg)
		e := msg.Data.ProjectEvents
		if got := fmt.Sprintf("%s %s %d", e.ProjectID, e.Type, e.StreamVersion); got != want {
			t.Errorf("SSE event = %q, want %q", got, want)
		}
	}
}

func TestProjectChangedOverSSE(t *testing.T) {
	s := startServer(t, t.TempDir())
	id := s.startProject(t, "acme")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lines := subscribeSSE(t, ctx, s, projectChangedSubscription, map[string]any{"id": id})
	waitSubscribers(t, ctx, s, 1)

	s.must(t, `mutation($id: ID!) { markWaitingOnCustomer(input: {projectId: $id, reason: "login missing"}) { project { version } } }`, map[string]any{"id": id}, "", nil)

	var msg struct{ Data projectChange }
	nextSSE(t, ctx, lines, &msg)
	got := msg.Data.ProjectChanged
	if got.Event.Type != "WaitingOnCustomerMarked" || got.Project.Version != 2 || got.Project.ID != id {
		t.Errorf("change = %+v, want WaitingOnCustomerMarked at version 2", got)
	}
}

func TestWebSocketKeepalive(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *Config) { c.Server.KeepAlive = 50 * time.Millisecond })
	for protocol, keepalive := range map[string]string{"graphql-transport-ws": "ping", "graphql-ws": "ka"} {
		t.Run(protocol, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := dialWS(t, ctx, s, protocol)
			var msg wsMessage
			if err := wsjson.Read(ctx, c.conn, &msg); err != nil {
				t.Fatal(err)
			}
			if msg.Type != keepalive {
				t.Errorf("idle connection got %q, want %q", msg.Type, keepalive)
			}
		})
	}
}

func TestProjectEventsUnknownProject(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "graphql-transport-ws")
	c.subscribe(t, ctx, "1", `subscription { projectEvents(projectId: "7d3c7f0e-0000-4000-8000-000000000000") { type } }`, nil)

	msg := c.read(t, ctx)
	var result struct{ Errors []gqlError }
	_ = json.Unmarshal(msg.Payload, &result)
	if len(result.Errors) == 0 || result.Errors[0].Extensions["code"] != "NOT_FOUND" {
		t.Errorf("first message %s %s, want NOT_FOUND", msg.Type, msg.Payload)
	}
}

func TestSubscriptionsPerConnectionLimit(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *Config) { c.Server.MaxSubscriptionsPerConnection = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "graphql-transport-ws")
	for _, id := range []string{"1", "2"} {
		c.subscribe(t, ctx, id, `subscription { dashboardChanged { totalProjects } }`, nil)
		c.nextOf(t, ctx, id)
	}
	c.subscribe(t, ctx, "3", `subscription { dashboardChanged { totalProjects } }`, nil)
	msg := c.read(t, ctx)
	for msg.ID != "3" {
		msg = c.read(t, ctx)
	}
	if msg.Type != "error" || !strings.Contains(string(msg.Payload), "LIMIT_EXCEEDED") {
		t.Errorf("third subscription got %s %s, want an error with LIMIT_EXCEEDED", msg.Type, msg.Payload)
	}
}
