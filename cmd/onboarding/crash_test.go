package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashRounds is how many times TestCrashKeepsAcknowledgedChanges kills the
// server; ONBOARDING_CRASH_ROUNDS raises it for a longer run.
func crashRounds() int {
	if n, err := strconv.Atoi(os.Getenv("ONBOARDING_CRASH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// buildBinary builds the server binary once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "onboarding")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is the server binary running on a data directory.
type process struct {
	cmd  *exec.Cmd
	addr string
	logs *bytes.Buffer
}

func startProcess(t *testing.T, bin, dir, addr string) *process {
	t.Helper()
	p := &process{addr: addr, logs: &bytes.Buffer{}}
	p.cmd = exec.Command(bin, "serve", "--addr", addr, "--data-dir", dir, "--log-level", "warn", "--log-format", "json")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			_ = p.cmd.Process.Kill()
			t.Fatalf("server on %s not ready: %v\n%s", addr, err, p.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *process) post(query string, vars map[string]any) (map[string]json.RawMessage, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post("http://"+p.addr+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res struct {
		Data   map[string]json.RawMessage
		Errors []gqlError
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, err
	}
	if len(res.Errors) > 0 {
		return nil, fmt.Errorf("%s", res.Errors[0].Message)
	}
	return res.Data, nil
}

// TestCrashKeepsAcknowledgedChanges kills the server with SIGKILL while
// writers send mutations, restarts it on the same data directory, and
// checks that every acknowledged change is there and the server goes on.
func TestCrashKeepsAcknowledgedChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the server binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freePort(t)
	p := startProcess(t, bin, dir, addr)

	const writers = 8
	projects := make([]string, writers)
	for w := range projects {
		data, err := p.post(startMutation, map[string]any{"input": map[string]any{
			"customerId": fmt.Sprintf("crash-%d", w), "customerName": "Crash test", "name": "Crash test",
			"systems": []map[string]any{{"name": "Shop", "platform": "SHOPIFY"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		var payload struct{ Project struct{ ID string } }
		_ = json.Unmarshal(data["startProject"], &payload)
		projects[w] = payload.Project.ID
	}

	acknowledged := map[string]string{} // description → project
	var mu sync.Mutex
	for round := range crashRounds() {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					description := fmt.Sprintf("round %d writer %d entry %d", round, w, i)
					_, err := p.post(`mutation($id: ID!, $d: String!) { logTime(input: {projectId: $id, hours: 0.25, description: $d}) { project { version } } }`,
						map[string]any{"id": projects[w], "d": description})
					if err != nil {
						return // the server is gone
					}
					mu.Lock()
					acknowledged[description] = projects[w]
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = p.cmd.Wait()
		close(stop)
		wg.Wait()

		p = startProcess(t, bin, dir, addr)
		checkAcknowledged(t, p, projects, acknowledged)
	}
	defer func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() }()

	// The projector resumed: a new change is visible at once.
	if _, err := p.post(`mutation($id: ID!) { logTime(input: {projectId: $id, hours: 1, description: "after the crashes"}) { project { version } } }`,
		map[string]any{"id": projects[0]}); err != nil {
		t.Fatalf("mutation after the crashes: %v", err)
	}
	t.Logf("%d acknowledged changes survived %d kills", len(acknowledged), crashRounds())
}

func checkAcknowledged(t *testing.T, p *process, projects []string, acknowledged map[string]string) {
	t.Helper()
	found := map[string]bool{}
	for _, id := range projects {
		data, err := p.post(`query($id: ID!) { project(id: $id) { version timeEntries { description } } }`, map[string]any{"id": id})
		if err != nil {
			t.Fatal(err)
		}
		var project struct {
			Version     int
			TimeEntries []struct{ Description string }
		}
		_ = json.Unmarshal(data["project"], &project)
		if project.Version != len(project.TimeEntries)+1 {
			t.Errorf("project %s: version %d with %d time entries", id, project.Version, len(project.TimeEntries))
		}
		for _, e := range project.TimeEntries {
			found[e.Description] = true
		}
	}
	for description := range acknowledged {
		if !found[description] {
			t.Errorf("acknowledged change %q is missing after the restart", description)
		}
	}
}

// TestSIGTERMFinishesRunningMutations stops the server with SIGTERM while
// writers send mutations: it exits cleanly, and every acknowledged change
// is there after a restart.
func TestSIGTERMFinishesRunningMutations(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and stops the server binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freePort(t)
	p := startProcess(t, bin, dir, addr)
	data, err := p.post(startMutation, map[string]any{"input": map[string]any{
		"customerId": "term", "customerName": "Term AB", "name": "Shutdown test",
		"systems": []map[string]any{{"name": "Shop", "platform": "SHOPIFY"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var payload struct{ Project struct{ ID string } }
	_ = json.Unmarshal(data["startProject"], &payload)
	projects := []string{payload.Project.ID}

	acknowledged := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				description := fmt.Sprintf("writer %d entry %d", w, i)
				_, err := p.post(`mutation($id: ID!, $d: String!) { logTime(input: {projectId: $id, hours: 0.25, description: $d}) { project { version } } }`,
					map[string]any{"id": projects[0], "d": description})
				if err != nil {
					return
				}
				mu.Lock()
				acknowledged[description] = projects[0]
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("server exited with %v after SIGTERM, want 0\n%s", err, p.logs)
	}
	wg.Wait()

	p = startProcess(t, bin, dir, addr)
	defer func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() }()
	checkAcknowledged(t, p, projects, acknowledged)
	if len(acknowledged) == 0 {
		t.Error("no mutation was acknowledged before SIGTERM")
	}
}
