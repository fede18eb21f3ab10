package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// commandResult is the outcome of one in-process run of the program.
type commandResult struct {
	status int
	stdout string
	stderr string
}

// runCommand runs the program with args and an empty environment, as the
// binary would, and returns its exit status and output.
func runCommand(t *testing.T, args ...string) commandResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	status := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
	return commandResult{status: status, stdout: stdout.String(), stderr: stderr.String()}
}

// playedProject is a project that exampleLog played.
type playedProject struct {
	id      string
	version int
}

// exampleLog plays the example run runs times through a real server on a
// new data directory, stops the server, and returns the directory and the
// projects played.
func exampleLog(t *testing.T, runs int) (string, []playedProject) {
	t.Helper()
	dir := t.TempDir()
	s := startServer(t, dir)
	var projects []playedProject
	for range runs {
		id := playExample(t, s)
		projects = append(projects, playedProject{id: id, version: s.project(t, id).Version})
	}
	s.stop(t)
	return dir, projects
}

func totalEvents(projects []playedProject) int {
	total := 0
	for _, p := range projects {
		total += p.version
	}
	return total
}

// wantLine fails the test unless output has a line equal to line after
// trailing spaces are removed.
func wantLine(t *testing.T, output, line string) {
	t.Helper()
	for _, l := range strings.Split(output, "\n") {
		if strings.TrimRight(l, " ") == line {
			return
		}
	}
	t.Errorf("output has no line %q:\n%s", line, output)
}

func TestReplayCountsEventsAndProjects(t *testing.T) {
	dir, projects := exampleLog(t, 2)

	res := runCommand(t, "replay", "--data-dir", dir, "--log-level", "warn")

	if res.status != 0 {
		t.Fatalf("replay exit status = %d, want 0\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	wantLine(t, res.stdout, "events:    "+strconv.Itoa(totalEvents(projects)))
	wantLine(t, res.stdout, "projects:  2")
	wantLine(t, res.stdout, "failed:    0")
	if !strings.Contains(res.stdout, "events/s:  ") || !strings.Contains(res.stdout, "elapsed:   ") {
		t.Errorf("replay output lacks elapsed time or events/s:\n%s", res.stdout)
	}
}

func TestReplayFailsOnUnappliedEvents(t *testing.T) {
	dir, projects := exampleLog(t, 1)
	stream := "project-" + projects[0].id
	deleteStoredEvent(t, dir, storedEvent(t, dir, stream, 10))

	res := runCommand(t, "replay", "--data-dir", dir, "--log-level", "warn", "--log-format", "json")

	if res.status != 1 {
		t.Fatalf("replay exit status = %d, want 1\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	// Every event after the gap fails: revisions 11 to the last.
	failed := projects[0].version - 11
	wantLine(t, res.stdout, "failed:    "+strconv.Itoa(failed))
	if !strings.Contains(res.stderr, "event skipped by projector") || !strings.Contains(res.stderr, stream) {
		t.Errorf("stderr does not log the skipped events of %s:\n%s", stream, res.stderr)
	}
}

func TestReplayWithoutStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")

	res := runCommand(t, "replay", "--data-dir", dir)

	if res.status != 1 || !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("replay of a missing store: status %d, stderr %q; want 1 and a message that the store does not exist", res.status, res.stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("replay created the data directory %s: %v", dir, err)
	}
}

func TestReplayWhileServerRuns(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir)

	res := runCommand(t, "replay", "--data-dir", dir)

	if res.status != 1 || !strings.Contains(res.stderr, "in use") {
		t.Errorf("replay beside a running server: status %d, stderr %q; want 1 and an in-use error", res.status, res.stderr)
	}
}

func TestOfflineCommandsHelp(t *testing.T) {
	common := []string{"-store", "ONBOARDING_STORE", "-data-dir", "ONBOARDING_DATA_DIR", "-esdb-url", "ONBOARDING_ESDB_URL",
		"-log-level", "ONBOARDING_LOG_LEVEL", "-log-format", "ONBOARDING_LOG_FORMAT"}
	own := map[string][]string{"replay": nil, "verify": {"-file"}, "export": {"-project", "-out"}}
	for command, flags := range own {
		t.Run(command, func(t *testing.T) {
			res := runCommand(t, command, "-h")

			if res.status != 0 {
				t.Errorf("%s -h exit status = %d, want 0", command, res.status)
			}
			wants := []string{"Usage: onboarding " + command}
			wants = append(wants, common...)
			wants = append(wants, flags...)
			for _, want := range wants {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("%s -h does not mention %q:\n%s", command, want, res.stderr)
				}
			}
		})
	}
}

func TestOfflineCommandsReadStoreEnvironment(t *testing.T) {
	dir, _ := exampleLog(t, 1)
	getenv := func(name string) string {
		return map[string]string{"ONBOARDING_DATA_DIR": dir, "ONBOARDING_LOG_LEVEL": "warn", "ONBOARDING_FILE": "/nonexistent"}[name]
	}
	var stdout, stderr bytes.Buffer

	status := run(context.Background(), []string{"verify"}, getenv, &stdout, &stderr)

	if status != 0 {
		t.Errorf("verify with ONBOARDING_DATA_DIR: status %d, want 0; ONBOARDING_FILE must not set --file\nstdout:\n%s\nstderr:\n%s", status, stdout.String(), stderr.String())
	}
}

func TestProgressLogsWithoutTerminal(t *testing.T) {
	var buf syncBuffer
	log := zerolog.New(&buf)

	p := startProgress("replay", func() int64 { return 42 }, nil, log, 10*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), `"events":42`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.Stop()

	line := buf.String()
	for _, want := range []string{`"task":"replay"`, `"events":42`, `"events_per_second":`, `"message":"in progress"`} {
		if !strings.Contains(line, want) {
			t.Errorf("progress log %q lacks %s", line, want)
		}
	}
}

func TestStatusLineKeepsLogLinesAbove(t *testing.T) {
	var buf bytes.Buffer
	status := &statusLine{out: &buf}

	status.Set("replay: 10 events")
	status.Write([]byte("a log line\n"))
	status.Clear()

	want := clearLine + "replay: 10 events" + clearLine + "a log line\n" + "replay: 10 events" + clearLine
	if buf.String() != want {
		t.Errorf("terminal output = %q, want %q", buf.String(), want)
	}
}

func TestProgressOnTerminalRedrawsStatusLine(t *testing.T) {
	var buf syncBuffer
	status := &statusLine{out: &buf}

	p := startProgress("verify: chains", func() int64 { return 7 }, status, zerolog.Nop(), time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "7 events") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.Stop()

	out := buf.String()
	if !strings.HasPrefix(out, clearLine+"verify: chains: 7 events, ") {
		t.Errorf("terminal output %q does not start with the status line", out)
	}
	if !strings.HasSuffix(out, clearLine) {
		t.Errorf("terminal output %q does not end by clearing the status line", out)
	}
}

// syncBuffer is a bytes.Buffer that is safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestUsageListsOfflineCommands(t *testing.T) {
	res := runCommand(t, "help")

	for _, want := range []string{"onboarding replay [flags]", "onboarding verify [flags]", "onboarding verify --file FILE", "onboarding export [flags]"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("help output lacks %q:\n%s", want, res.stdout)
		}
	}
}
