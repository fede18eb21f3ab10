package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/integrationplatform/onboarding/eventstore"
)

// exportLog exports every project of the store in dir to a file and
// returns the file's path.
func exportLog(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "export.jsonl")
	res := runCommand(t, "export", "--data-dir", dir, "--out", out, "--log-level", "warn")
	if res.status != 0 {
		t.Fatalf("export exit status = %d, want 0\nstderr:\n%s", res.status, res.stderr)
	}
	return out
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestExportThenVerifyFile(t *testing.T) {
	dir, projects := exampleLog(t, 2)
	out := exportLog(t, dir)

	res := runCommand(t, "verify", "--file", out)

	if res.status != 0 {
		t.Fatalf("verify --file exit status = %d, want 0\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	events := totalEvents(projects)
	if !strings.Contains(res.stdout, fmt.Sprintf("file:      %s, %d lines, 0 invalid", out, events)) ||
		!strings.Contains(res.stdout, fmt.Sprintf("chain:     2 streams, %d events in ", events)) {
		t.Errorf("verify --file output lacks the line and event counts:\n%s", res.stdout)
	}
	wantLine(t, res.stdout, "verify:    ok")
	if info, err := os.Stat(out); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("export file mode = %v (%v), want 0600", info.Mode().Perm(), err)
	}
}

func TestExportLineFields(t *testing.T) {
	dir, projects := exampleLog(t, 1)
	first := storedEvent(t, dir, "project-"+projects[0].id, 0)
	lines := readLines(t, exportLog(t, dir))

	var line map[string]json.RawMessage
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{
		"stream":     fmt.Sprintf("%q", first.StreamID),
		"revision":   "0",
		"position":   fmt.Sprintf(`{"commit":%d,"prepare":%d}`, first.Position.Commit, first.Position.Prepare),
		"eventId":    fmt.Sprintf("%q", first.ID),
		"type":       `"ProjectStarted"`,
		"data":       string(first.Data),
		"metadata":   string(first.Metadata),
		"recordedAt": jsonString(first.RecordedAt),
	}
	for name, value := range want {
		if string(line[name]) != value {
			t.Errorf("member %s = %s, want %s", name, line[name], value)
		}
	}
	if len(line) != len(want) {
		t.Errorf("line has %d members, want %d: %s", len(line), len(want), lines[0])
	}
	if !bytes.Contains(line["metadata"], []byte(`"hash":"`)) {
		t.Errorf("metadata %s has no hash member", line["metadata"])
	}
}

func TestVerifyFileNamesAlteredLine(t *testing.T) {
	dir, _ := exampleLog(t, 2)
	out := exportLog(t, dir)
	lines := readLines(t, out)
	const altered = 100 // a line of the second project, counted from 1
	var event exportedEvent
	if err := json.Unmarshal([]byte(lines[altered-1]), &event); err != nil {
		t.Fatal(err)
	}
	// Changing the case of a letter keeps the JSON valid and of the same
	// length, but the hash no longer matches.
	data := []byte(event.Data)
	at := bytes.LastIndexAny(data, "abcdefghijklmnopqrstuvwxyz")
	if at < 0 {
		t.Fatalf("line %d has no lowercase letter in its data: %s", altered, data)
	}
	changed := bytes.Clone(data)
	changed[at] ^= 0x20
	lines[altered-1] = strings.Replace(lines[altered-1], string(data), string(changed), 1)
	writeLines(t, out, lines)

	res := runCommand(t, "verify", "--file", out)

	if res.status != exitVerifyFailed {
		t.Fatalf("verify --file exit status = %d, want %d\nstdout:\n%s", res.status, exitVerifyFailed, res.stdout)
	}
	want := fmt.Sprintf("broken chain: line %d: stream %s, revision %d (event %s): hash ", altered, event.Stream, *event.Revision, event.EventID)
	if !strings.Contains(res.stdout, want) {
		t.Errorf("verify --file output does not name line %d:\n%s", altered, res.stdout)
	}
	if strings.Count(res.stdout, "broken chain:") != 1 {
		t.Errorf("verify --file reports more than the altered line:\n%s", res.stdout)
	}
}

func TestVerifyFileNamesUnparsableLines(t *testing.T) {
	dir, _ := exampleLog(t, 1)
	out := exportLog(t, dir)
	lines := readLines(t, out)
	lines[4] = `{"stream":`
	lines[6] = strings.Replace(lines[6], `"type":`, `"kind":`, 1)
	lines = append(lines, "")
	writeLines(t, out, lines)

	res := runCommand(t, "verify", "--file", out)

	if res.status != exitVerifyFailed {
		t.Fatalf("verify --file exit status = %d, want %d\nstdout:\n%s", res.status, exitVerifyFailed, res.stdout)
	}
	for _, want := range []string{
		"invalid line: line 5: not an exported event: ",
		`invalid line: line 7: not an exported event: json: unknown field "kind"`,
		fmt.Sprintf("invalid line: line %d: empty", len(lines)),
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("verify --file output lacks %q:\n%s", want, res.stdout)
		}
	}
	// The chain of the stream breaks at the first line that did not parse.
	if !strings.Contains(res.stdout, "broken chain: line 6: ") || !strings.Contains(res.stdout, "revision 5 follows revision 3: 1 event(s) missing") {
		t.Errorf("verify --file output does not name the gap left by line 5:\n%s", res.stdout)
	}
}

func TestVerifyFileMissing(t *testing.T) {
	res := runCommand(t, "verify", "--file", filepath.Join(t.TempDir(), "missing.jsonl"))

	if res.status != exitVerifyNotRun || !strings.Contains(res.stderr, "read export file") {
		t.Errorf("verify of a missing file: status %d, stderr %q; want %d and an open error", res.status, res.stderr, exitVerifyNotRun)
	}
}

func TestExportProjectOnly(t *testing.T) {
	dir, projects := exampleLog(t, 2)
	chosen := projects[1]

	res := runCommand(t, "export", "--data-dir", dir, "--project", chosen.id, "--log-level", "warn")

	if res.status != 0 {
		t.Fatalf("export --project exit status = %d, want 0\nstderr:\n%s", res.status, res.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if len(lines) != chosen.version {
		t.Fatalf("export --project wrote %d lines, want %d, the project's version", len(lines), chosen.version)
	}
	for i, line := range lines {
		event, err := parseExportedEvent([]byte(line))
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if event.StreamID != "project-"+chosen.id || event.Revision != uint64(i) {
			t.Errorf("line %d is %s revision %d, want project-%s revision %d", i+1, event.StreamID, event.Revision, chosen.id, i)
		}
	}
}

func TestExportUnknownProject(t *testing.T) {
	dir, _ := exampleLog(t, 1)
	out := filepath.Join(t.TempDir(), "export.jsonl")

	res := runCommand(t, "export", "--data-dir", dir, "--project", "no-such-project", "--out", out)

	if res.status != 1 || !strings.Contains(res.stderr, `project "no-such-project" not found`) {
		t.Errorf("export of an unknown project: status %d, stderr %q; want 1 and a not found error", res.status, res.stderr)
	}
	entries, err := os.ReadDir(filepath.Dir(out))
	if err != nil || len(entries) != 0 {
		t.Errorf("failed export left files behind: %v %v", entries, err)
	}
}

func TestExportedEventKeepsStoredBytes(t *testing.T) {
	cases := map[string][]byte{
		"compact object":             []byte(`{"value":"a"}`),
		"HTML characters":            []byte(`{"value":"<b> & </b>"}`),
		"line separator":             []byte("{\"value\":\"a\u2028b\"}"),
		"escapes kept as written":    []byte(`{"value":"\u00e5\n"}`),
		"whitespace outside strings": []byte(`{ "value": "a" }`),
		"invalid UTF-8":              []byte("{\"value\":\"\xff\"}"),
		"not JSON":                   []byte(`{"value":`),
		"null":                       []byte(`null`),
		"empty":                      nil,
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			metadata, _ := eventstore.SealMetadata("", "AnswerSubmitted", data, []byte(`{"actor":{"userId":"a"}}`))
			stored := eventstore.RecordedEvent{ID: "e1", StreamID: "project-p1", Type: "AnswerSubmitted", Data: data, Metadata: metadata}
			var line bytes.Buffer
			if err := newExportEncoder(&line).Encode(newExportedEvent(stored)); err != nil {
				t.Fatal(err)
			}

			parsed, err := parseExportedEvent(line.Bytes())

			if err != nil {
				t.Fatalf("parse %s: %v", line.Bytes(), err)
			}
			if !bytes.Equal(parsed.Data, data) {
				t.Errorf("data after export and parse = %q, want %q (line %s)", parsed.Data, data, line.Bytes())
			}
			if !bytes.Equal(parsed.Metadata, metadata) {
				t.Errorf("metadata after export and parse = %q, want %q", parsed.Metadata, metadata)
			}
			if failure := eventstore.NewChainVerifier().Add(parsed); failure != nil {
				t.Errorf("chain of the parsed event: %v", failure)
			}
		})
	}
}
