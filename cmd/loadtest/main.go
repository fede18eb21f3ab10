// Command loadtest drives a running onboarding server with concurrent
// GraphQL clients and reports throughput and latency percentiles.
//
// It runs three workloads against the same server, one after another:
// mutations (logTime on one project per client), project queries, and a
// constant query ({ processTemplate { version } }) that measures the cost
// of the HTTP and gqlgen layers alone.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/graphql", "GraphQL endpoint; must be a loopback address")
	clients := flag.Int("clients", 32, "number of concurrent clients")
	duration := flag.Duration("duration", 10*time.Second, "time each workload runs")
	flag.Parse()
	if err := run(*url, *clients, *duration, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(url string, clients int, duration time.Duration, out io.Writer) error {
	if err := checkLoopback(url); err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	projects := make([]string, clients)
	for i := range projects {
		id, err := startProject(client, url, i)
		if err != nil {
			return err
		}
		projects[i] = id
	}
	workloads := []struct {
		name  string
		query func(worker int) (string, map[string]any)
	}{
		{"mutation logTime", func(w int) (string, map[string]any) {
			return `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 0.25, description: "load test"}) { project { id version loggedHours } } }`,
				map[string]any{"id": projects[w]}
		}},
		{"query project", func(w int) (string, map[string]any) {
			return `query($id: ID!) { project(id: $id) { id version status loggedHours questionnaire { answered required } currentPhase { id } phases { id state steps { id state } } } }`,
				map[string]any{"id": projects[w]}
		}},
		{"reference: constant query", func(int) (string, map[string]any) {
			return `{ processTemplate { version } }`, nil
		}},
	}
	fmt.Fprintf(out, "%d clients, %s per workload, %s\n", clients, duration, url)
	fmt.Fprintf(out, "%-28s %10s %10s %10s %10s %8s\n", "workload", "requests/s", "p50", "p99", "max", "errors")
	for _, w := range workloads {
		r := measure(client, url, clients, duration, w.query)
		fmt.Fprintf(out, "%-28s %10.0f %10s %10s %10s %8d\n", w.name, r.perSecond, r.p50, r.p99, r.max, r.errors)
	}
	return nil
}

// checkLoopback rejects any target that is not on this machine.
func checkLoopback(url string) error {
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	host := req.URL.Hostname()
	ips, err := net.LookupIP(host)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("target %s resolves to %s, which is not a loopback address; loadtest only targets this machine", host, ip)
		}
	}
	return nil
}

type result struct {
	perSecond     float64
	p50, p99, max time.Duration
	errors        int
}

func measure(client *http.Client, url string, clients int, duration time.Duration, query func(int) (string, map[string]any)) result {
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var mu sync.Mutex
	var latencies []time.Duration
	errors := 0
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var own []time.Duration
			failed := 0
			for ctx.Err() == nil {
				q, vars := query(w)
				t0 := time.Now()
				if _, err := post(client, url, q, vars); err != nil {
					if ctx.Err() == nil {
						failed++
					}
					continue
				}
				own = append(own, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, own...)
			errors += failed
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	r := result{errors: errors, perSecond: float64(len(latencies)) / elapsed.Seconds()}
	if n := len(latencies); n > 0 {
		r.p50 = latencies[n/2].Round(time.Microsecond)
		r.p99 = latencies[n*99/100].Round(time.Microsecond)
		r.max = latencies[n-1].Round(time.Microsecond)
	}
	return r
}

func startProject(client *http.Client, url string, i int) (string, error) {
	data, err := post(client, url, `mutation($input: StartProjectInput!) { startProject(input: $input) { project { id } } }`, map[string]any{
		"input": map[string]any{
			"customerId": fmt.Sprintf("load-%d", i), "customerName": fmt.Sprintf("Load test customer %d", i),
			"name": "Load test", "estimatedHours": 20,
			"systems": []map[string]any{{"name": "Shop", "platform": "WOOCOMMERCE"}, {"name": "ERP", "platform": "FORTNOX"}},
		},
	})
	if err != nil {
		return "", fmt.Errorf("start project: %w", err)
	}
	var payload struct {
		StartProject struct{ Project struct{ ID string } }
	}
	if err := json.Unmarshal(data, &payload); err != nil {
		return "", err
	}
	return payload.StartProject.Project.ID, nil
}

func post(client *http.Client, url, query string, vars map[string]any) (json.RawMessage, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, err
	}
	if len(res.Errors) > 0 {
		return nil, fmt.Errorf("%s", res.Errors[0].Message)
	}
	return res.Data, nil
}
