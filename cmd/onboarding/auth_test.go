package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/integrationplatform/onboarding/auth"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func withAuth(c *Config) {
	c.jwtHMAC = testSecret
	c.Auth = auth.Config{HS256Secret: []byte(testSecret), Issuer: "onboarding-dev", Audience: "onboarding-api", ClockSkew: time.Second}
}

func mintTest(t *testing.T, role string) string {
	t.Helper()
	var out bytes.Buffer
	if code := run(context.Background(), []string{"token", "--sub", "alice", "--role", role}, env(map[string]string{"ONBOARDING_JWT_SECRET": testSecret}), &out, io.Discard); code != 0 {
		t.Fatalf("token command exited %d", code)
	}
	return strings.TrimSpace(out.String())
}

func TestAuthenticationRequired(t *testing.T) {
	s := startServer(t, t.TempDir(), withAuth)

	res := s.do(t, `{ dashboard { totalProjects } }`, nil)
	if res.Status != http.StatusUnauthorized || res.code() != "UNAUTHENTICATED" {
		t.Errorf("request without token: status %d code %q, want 401 UNAUTHENTICATED", res.Status, res.code())
	}
	res = s.post(t, []byte(`{"query":"{ dashboard { totalProjects } }"}`), http.Header{"Authorization": {"Bearer not-a-token"}})
	if res.Status != http.StatusUnauthorized || !strings.Contains(res.Errors[0].Message, "invalid bearer token") {
		t.Errorf("request with a bad token: status %d errors %+v", res.Status, res.Errors)
	}

	token := mintTest(t, auth.RoleEngineer)
	body, _ := json.Marshal(map[string]any{"query": startMutation, "variables": map[string]any{"input": map[string]any{
		"customerId": "acme", "customerName": "Acme", "name": "Acme", "systems": []map[string]any{{"name": "Shop", "platform": "SHOPIFY"}},
	}}})
	res = s.post(t, body, http.Header{"Authorization": {"Bearer " + token}})
	if len(res.Errors) > 0 {
		t.Fatalf("mutation with a valid token: %+v", res.Errors)
	}
	var payload struct{ Project struct{ ID string } }
	_ = json.Unmarshal(res.Data["startProject"], &payload)
	history, _ := json.Marshal(map[string]any{"query": `query($id: ID!) { history(projectId: $id) { nodes { actor { userId role } } } }`, "variables": map[string]any{"id": payload.Project.ID}})
	res = s.post(t, history, http.Header{"Authorization": {"Bearer " + token}})
	if !strings.Contains(string(res.Data["history"]), `"userId":"alice","role":"engineer"`) {
		t.Errorf("history actor = %s, want alice as engineer", res.Data["history"])
	}
}

func TestWebSocketInitNeedsToken(t *testing.T) {
	s := startServer(t, t.TempDir(), withAuth)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(s.URL, "http")

	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	_ = wsjson.Write(ctx, conn, wsMessage{Type: "connection_init", Payload: json.RawMessage(`{}`)})
	for {
		var msg wsMessage
		if err := wsjson.Read(ctx, conn, &msg); err != nil {
			if status := websocket.CloseStatus(err); status != 4403 {
				t.Errorf("init without token ended with %v, want close 4403", err)
			}
			break
		}
	}

	ok, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ok.CloseNow()
	init, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + mintTest(t, auth.RoleAuditor)})
	_ = wsjson.Write(ctx, ok, wsMessage{Type: "connection_init", Payload: init})
	var ack wsMessage
	if err := wsjson.Read(ctx, ok, &ack); err != nil || ack.Type != "connection_ack" {
		t.Errorf("init with a token: %+v, %v; want connection_ack", ack, err)
	}
}

func TestOpenServerOnlyOnLoopback(t *testing.T) {
	if _, err := parseServeFlags([]string{"--addr", "0.0.0.0:8080"}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("non-loopback address without authentication: %v, want a refusal naming loopback", err)
	}
	if _, err := parseServeFlags([]string{"--addr", "0.0.0.0:8080", "--jwt-secret", testSecret}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "master key") {
		t.Errorf("non-loopback address with authentication and the development master key: %v, want a refusal naming the master key", err)
	}
	if _, err := parseServeFlags([]string{"--addr", "0.0.0.0:8080", "--jwt-secret", testSecret}, env(map[string]string{"ONBOARDING_MASTER_KEY": testMasterKey}), io.Discard); err != nil {
		t.Errorf("non-loopback address with authentication and a master key: %v", err)
	}
	if _, err := parseServeFlags([]string{"--jwt-secret", "short"}, env(nil), io.Discard); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
}

func mintShort(t *testing.T, ttl string) string {
	t.Helper()
	var out bytes.Buffer
	args := []string{"token", "--sub", "short", "--role", "engineer", "--ttl", ttl}
	if code := run(context.Background(), args, env(map[string]string{"ONBOARDING_JWT_SECRET": testSecret}), &out, io.Discard); code != 0 {
		t.Fatalf("token command exited %d", code)
	}
	return strings.TrimSpace(out.String())
}

// A subscription ends when its token expires: WebSocket closes with 4403,
// and an SSE stream ends.
func TestSubscriptionEndsWhenTokenExpires(t *testing.T) {
	s := startServer(t, t.TempDir(), withAuth)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	token := mintShort(t, "2s")
	started := time.Now()

	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http"), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	init, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + token})
	_ = wsjson.Write(ctx, conn, wsMessage{Type: "connection_init", Payload: init})
	_ = wsjson.Write(ctx, conn, wsMessage{ID: "1", Type: "subscribe", Payload: json.RawMessage(`{"query":"subscription { dashboardChanged { totalProjects } }"}`)})
	for {
		var msg wsMessage
		if err := wsjson.Read(ctx, conn, &msg); err != nil {
			if status := websocket.CloseStatus(err); status != 4403 {
				t.Errorf("socket ended with %v, want close 4403 when the token expires", err)
			}
			break
		}
	}
	if took := time.Since(started); took < time.Second {
		t.Errorf("socket closed after %s, before the token expired", took)
	}

	sse := subscribeSSEWithToken(t, ctx, s, mintShort(t, "2s"))
	select {
	case <-sse:
	case <-ctx.Done():
		t.Error("SSE stream did not end when its token expired")
	}
}

// subscribeSSEWithToken subscribes to dashboardChanged over SSE and returns
// a channel closed when the stream ends.
func subscribeSSEWithToken(t *testing.T, ctx context.Context, s *testServer, token string) <-chan struct{} {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, strings.NewReader(`{"query":"subscription { dashboardChanged { totalProjects } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
	}()
	return done
}

func TestConnectionsPerTokenLimit(t *testing.T) {
	s := startServer(t, t.TempDir(), withAuth, func(c *Config) { c.Server.MaxConnectionsPerToken = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	token := mintTest(t, auth.RoleEngineer)
	init, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + token})
	open := func() (*websocket.Conn, wsMessage, error) {
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http"), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Fatal(err)
		}
		_ = wsjson.Write(ctx, conn, wsMessage{Type: "connection_init", Payload: init})
		var msg wsMessage
		for {
			if err := wsjson.Read(ctx, conn, &msg); err != nil {
				return conn, msg, err
			}
			if msg.Type == "connection_ack" {
				return conn, msg, nil
			}
		}
	}
	first, _, err := open()
	if err != nil {
		t.Fatalf("first connection: %v", err)
	}
	second, _, err := open()
	if err != nil {
		t.Fatalf("second connection: %v", err)
	}
	defer second.CloseNow()
	third, _, err := open()
	defer third.CloseNow()
	if status := websocket.CloseStatus(err); status != 4429 {
		t.Errorf("third connection with the same token ended with %v, want close 4429", err)
	}

	first.Close(websocket.StatusNormalClosure, "done")
	deadline := time.Now().Add(5 * time.Second)
	for {
		again, _, err := open()
		again.CloseNow()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a connection after closing one is still refused: %v", err)
		}
	}
}
