package main

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkProjectAsOf measures project(asOf:) over HTTP for a project with
// 5,000 events, half way through its history and at its end, and reports
// the latency percentiles of the requests.
func BenchmarkProjectAsOf(b *testing.B) {
	s := startServer(b, b.TempDir())
	id := s.startProject(b, "asof")
	const events = 5000
	for i := 1; i < events; i++ {
		s.must(b, `mutation($id: ID!, $d: String!) { logTime(input: {projectId: $id, hours: 0.25, description: $d}) { project { version } } }`,
			map[string]any{"id": id, "d": fmt.Sprintf("entry %d", i)}, "", nil)
	}
	query := `query($id: ID!, $v: Int!) { project(id: $id, asOf: {version: $v}) { version loggedHours phases { state steps { id state } } } }`
	for _, version := range []int{events / 2, events} {
		b.Run(fmt.Sprintf("version=%d", version), func(b *testing.B) {
			latencies := make([]time.Duration, 0, b.N)
			for range b.N {
				started := time.Now()
				var p struct{ Version int }
				s.must(b, query, map[string]any{"id": id, "v": version}, "project", &p)
				latencies = append(latencies, time.Since(started))
				if p.Version != version {
					b.Fatalf("version %d, want %d", p.Version, version)
				}
			}
			slices.Sort(latencies)
			b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
