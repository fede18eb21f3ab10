package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/integrationplatform/onboarding/eventstore/esdb/esdbtest"
)

// esdbURLEnv names the environment variable with the connection string of a
// real EventStoreDB or KurrentDB server for the end-to-end tests.
const esdbURLEnv = "ONBOARDING_TEST_ESDB_URL"

// testMasterKey is the master key of every server in the EventStoreDB
// tests, because replicas and restarts must share it.
const testMasterKey = "dGVzdCBtYXN0ZXIga2V5IG9mIDMyIGJ5dGVzIGxvbmc="

func onESDB(url string) func(*Config) {
	return func(c *Config) {
		c.Store = "esdb"
		c.ESDBURL = url
		c.masterKey = testMasterKey
	}
}

func TestExampleRunOnInProcessESDB(t *testing.T) {
	fake := esdbtest.Start(t)
	s := startServer(t, t.TempDir(), onESDB(fake.ConnectionString()))
	id := playExample(t, s)
	if p := s.project(t, id); p.Status != "COMPLETED" || p.Version != 72 {
		t.Errorf("project on EventStoreDB: status %s version %d, want COMPLETED at 72", p.Status, p.Version)
	}

	// A restarted API rebuilds the same project from EventStoreDB.
	before := s.project(t, id)
	s.stop(t)
	s2 := startServer(t, t.TempDir(), onESDB(fake.ConnectionString()))
	if after := s2.project(t, id); jsonString(after) != jsonString(before) {
		t.Errorf("project after restart:\n%s\nbefore:\n%s", jsonString(after), jsonString(before))
	}
}

func TestExampleRunOnRealESDB(t *testing.T) {
	url := os.Getenv(esdbURLEnv)
	if url == "" {
		t.Skipf("real-server run skipped: set %s to a connection string such as esdb://127.0.0.1:2113?tls=false", esdbURLEnv)
	}
	s := startServer(t, t.TempDir(), onESDB(url))
	id := playExample(t, s)
	if p := s.project(t, id); p.Status != "COMPLETED" {
		t.Errorf("project on EventStoreDB: status %s, want COMPLETED", p.Status)
	}
}

func readyStatus(t *testing.T, s *testServer) int {
	t.Helper()
	resp, err := http.Get(strings.TrimSuffix(s.URL, "/graphql") + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// While EventStoreDB is down, mutations fail fast with STORE_UNAVAILABLE,
// /readyz reports not ready and queries answer from the read models; all
// of it recovers by itself when the server returns.
func TestStoreUnavailableAndBack(t *testing.T) {
	fake := esdbtest.Start(t)
	s := startServer(t, t.TempDir(), onESDB(fake.ConnectionString()))
	id := s.startProject(t, "acme")
	logTime := `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 1, description: "work"}) { project { version } } }`

	fake.Stop()
	started := time.Now()
	res := s.do(t, logTime, map[string]any{"id": id})
	if res.code() != "STORE_UNAVAILABLE" {
		t.Fatalf("mutation while the store is down: %+v, want STORE_UNAVAILABLE", res.Errors)
	}
	if took := time.Since(started); took > 15*time.Second {
		t.Errorf("mutation took %s to fail, want a fast failure", took)
	}
	if got := readyStatus(t, s); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz while the store is down = %d, want 503", got)
	}
	if p := s.project(t, id); p.Version != 1 {
		t.Errorf("query while the store is down: version %d, want 1", p.Version)
	}

	fake.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		res := s.do(t, logTime, map[string]any{"id": id})
		if len(res.Errors) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mutation after restart still fails: %+v", res.Errors)
		}
	}
	if got := readyStatus(t, s); got != http.StatusOK {
		t.Errorf("/readyz after the store is back = %d, want 200", got)
	}
	if p := s.project(t, id); p.Version != 2 || p.LoggedHours != 1 {
		t.Errorf("after recovery: version %d with %v hours, want 2 with 1", p.Version, p.LoggedHours)
	}
	// A duplicated or missing event would fail to apply and be counted.
	if n := s.projector.Failures(); n != 0 {
		t.Errorf("projector failed to apply %d events across the outage", n)
	}
}
