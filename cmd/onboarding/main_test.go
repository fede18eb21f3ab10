package main

import (
	"bytes"
	"context"
	"encoding/json"

	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// testServer is a running Main on a free loopback port.
type testServer struct {
	*Main
	URL string
}

// startServer runs the program on dir, as the binary does, and stops it at
// the end of the test.
func startServer(t testing.TB, dir string, change ...func(*Config)) *testServer {
	t.Helper()
	return startServerWithLog(t, dir, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), change...)
}

// startServerWithLog is startServer with the server's logger.
func startServerWithLog(t testing.TB, dir string, log zerolog.Logger, change ...func(*Config)) *testServer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dir
	for _, f := range change {
		f(&cfg)
	}
	m := NewMain(cfg, log)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Open(ctx); err != nil {
		t.Fatalf("open server on %s: %v", dir, err)
	}
	s := &testServer{Main: m, URL: "http://" + m.Addr() + "/graphql"}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *testServer) stop(t testing.TB) {
	t.Helper()
	if s.Main == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Errorf("close server: %v", err)
	}
	s.Main = nil
}

// gqlResult is a decoded GraphQL response.
type gqlResult struct {
	Status int
	Data   map[string]json.RawMessage `json:"data"`
	Errors []gqlError                 `json:"errors"`
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func (r gqlResult) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	code, _ := r.Errors[0].Extensions["code"].(string)
	return code
}

// do posts a GraphQL request and decodes the response.
func (s *testServer) do(t testing.TB, query string, vars map[string]any) gqlResult {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return s.post(t, body, nil)
}

func (s *testServer) post(t testing.TB, body []byte, header http.Header) gqlResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post to %s: %v", s.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res := gqlResult{Status: resp.StatusCode}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("decode response %q (status %d): %v", raw, resp.StatusCode, err)
	}
	return res
}

// must posts a request that must succeed and decodes field into out.
func (s *testServer) must(t testing.TB, query string, vars map[string]any, field string, out any) {
	t.Helper()
	res := s.do(t, query, vars)
	if len(res.Errors) > 0 {
		t.Fatalf("request failed: %+v\nquery: %s", res.Errors, query)
	}
	if out == nil {
		return
	}
	if err := json.Unmarshal(res.Data[field], out); err != nil {
		t.Fatalf("decode %s from %s: %v", field, res.Data[field], err)
	}
}

const startMutation = `mutation($input: StartProjectInput!) {
  startProject(input: $input) { project { id version status } }
}`

// startProject starts a small project with a Shopify shop and Fortnox and
// returns its id.
func (s *testServer) startProject(t testing.TB, customer string) string {
	t.Helper()
	var payload struct{ Project struct{ ID string } }
	s.must(t, startMutation, map[string]any{"input": map[string]any{
		"customerId": customer, "customerName": customer + " AB", "name": "Onboarding of " + customer,
		"estimatedHours": 10,
		"systems":        []map[string]any{{"name": "Shop", "platform": "SHOPIFY"}, {"name": "Fortnox", "platform": "FORTNOX"}},
	}}, "startProject", &payload)
	return payload.Project.ID
}

func readExample(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../examples/onboarding-run.graphql")
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

func playExample(t *testing.T, s *testServer) string {
	t.Helper()
	var out strings.Builder
	id, err := Play(context.Background(), http.DefaultClient, s.URL, "onboarding-run.graphql", readExample(t), &out)
	if err != nil {
		t.Fatalf("play example: %v\n%s", err, out.String())
	}
	return id
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
