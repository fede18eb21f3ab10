package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
)

// benchmarkParallelism is the number of concurrent clients: 16 goroutines per
// CPU, so 32 on a 2-core machine.
const benchmarkParallelism = 16

// benchmarkRequest posts a request from parallel clients, each with its own
// project, to a real server on loopback.
func benchmarkRequest(b *testing.B, query func(projectID string) (string, map[string]any)) {
	s := startServer(b, b.TempDir())
	clients := benchmarkParallelism * runtime.GOMAXPROCS(0)
	bodies := make(chan []byte, clients)
	for i := range clients {
		q, vars := query(s.startProject(b, fmt.Sprintf("bench-%d", i)))
		body, err := json.Marshal(map[string]any{"query": q, "variables": vars})
		if err != nil {
			b.Fatal(err)
		}
		bodies <- body
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	b.SetParallelism(benchmarkParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		body := <-bodies
		for pb.Next() {
			resp, err := client.Post(s.URL, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || bytes.Contains(raw, []byte(`"errors"`)) {
				b.Errorf("status %d: %s", resp.StatusCode, raw)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

func BenchmarkProjectQuery(b *testing.B) {
	benchmarkRequest(b, func(projectID string) (string, map[string]any) {
		return `query($id: ID!) { project(id: $id) { id version status loggedHours questionnaire { answered required } currentPhase { id } phases { id state steps { id state } } } }`,
			map[string]any{"id": projectID}
	})
}

func BenchmarkLogTimeMutation(b *testing.B) {
	benchmarkRequest(b, func(projectID string) (string, map[string]any) {
		return `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 0.25, description: "benchmark"}) { project { id version loggedHours } } }`,
			map[string]any{"id": projectID}
	})
}

// BenchmarkConstantQuery is the reference: the HTTP and gqlgen layers with
// a resolver that returns a constant.
func BenchmarkConstantQuery(b *testing.B) {
	benchmarkRequest(b, func(string) (string, map[string]any) {
		return `{ processTemplate { version } }`, nil
	})
}
