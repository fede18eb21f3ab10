package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/eventstore/esdb/esdbtest"
)

// personalValues are the secret answers and contact details that the
// privacy tests submit, each unlike anything else in the log.
var personalValues = personalData{
	platformLogin: "ops@zebrafinch.example / plaintext-never-stored-7731",
	shopKey:       "ck_zebrafinch_a83f1e55c0ffee",
	name:          "Zlatan Zebrafinch",
	email:         "zlatan.zebrafinch@example.se",
	phone:         "+46 70 555 01 99",
}

type personalData struct {
	platformLogin, shopKey, name, email, phone string
}

func (v personalData) all() []string {
	return []string{v.platformLogin, v.shopKey, v.name, v.email, v.phone}
}

// submitPersonalData starts a WooCommerce project and gives it two secret
// answers and one contact, with idempotency keys, whose request hashes are
// stored too. The keys are random: the log stores them as given.
func submitPersonalData(t *testing.T, s *testServer) string {
	t.Helper()
	var payload struct{ Project struct{ ID string } }
	s.must(t, startMutation, map[string]any{"input": map[string]any{
		"customerId": "zebrafinch", "customerName": "Zebrafinch AB", "name": "Web shop and Fortnox",
		"systems": []map[string]any{{"name": "Shop", "platform": "WOOCOMMERCE"}, {"name": "Fortnox", "platform": "FORTNOX"}},
	}}, "startProject", &payload)
	id := payload.Project.ID
	answer := `mutation($p: ID!, $q: ID!, $s: ID, $v: String!, $k: String) { submitAnswer(input: {projectId: $p, questionId: $q, systemId: $s, value: $v, idempotencyKey: $k}) { project { version } } }`
	s.must(t, answer, map[string]any{"p": id, "q": "platform-login", "v": personalValues.platformLogin, "k": uuid.NewString()}, "", nil)
	s.must(t, answer, map[string]any{"p": id, "q": "api-credentials", "s": "shop", "v": personalValues.shopKey, "k": uuid.NewString()}, "", nil)
	s.must(t, `mutation($p: ID!, $n: String!, $e: String!, $ph: String, $k: String) { addContact(input: {projectId: $p, name: $n, email: $e, phone: $ph, role: "Owner", idempotencyKey: $k}) { project { version } } }`,
		map[string]any{"p": id, "n": personalValues.name, "e": personalValues.email, "ph": personalValues.phone, "k": uuid.NewString()}, "", nil)
	return id
}

// findPlainText returns "value in place" for every value found in a file
// under dir or in the log.
func findPlainText(t *testing.T, dir string, log []byte, values []string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, v := range values {
			if bytes.Contains(data, []byte(v)) {
				found = append(found, fmt.Sprintf("%q in %s", v, path))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if bytes.Contains(log, []byte(v)) {
			found = append(found, fmt.Sprintf("%q in the log", v))
		}
	}
	return found
}

func TestNoPlainTextInDataOrLogs(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuffer
	s := startServerWithLog(t, dir, zerolog.New(&logs).Level(zerolog.DebugLevel))
	id := submitPersonalData(t, s)
	example := playExample(t, s)

	// The values are readable where they should be: contacts in the
	// project, a secret through revealSecret.
	var project struct {
		Contacts []struct{ Name, Email string }
	}
	s.must(t, `query($p: ID!) { project(id: $p) { contacts { name email } } }`, map[string]any{"p": id}, "project", &project)
	if len(project.Contacts) != 1 || project.Contacts[0].Email != personalValues.email {
		t.Fatalf("contacts = %+v, want the one added", project.Contacts)
	}
	var revealed struct{ Value string }
	s.must(t, `mutation($p: ID!) { revealSecret(input: {projectId: $p, questionId: "api-credentials", systemId: "shop"}) { value } }`, map[string]any{"p": id}, "revealSecret", &revealed)
	if revealed.Value != personalValues.shopKey {
		t.Errorf("revealSecret = %q, want %q", revealed.Value, personalValues.shopKey)
	}
	s.stop(t)

	values := append(personalValues.all(), exampleSecrets...)
	if found := findPlainText(t, dir, []byte(logs.String()), values); len(found) > 0 {
		t.Errorf("plain text of secrets or personal data found:\n%s", strings.Join(found, "\n"))
	}
	if !bytes.Contains([]byte(logs.String()), []byte(`"secret revealed"`)) {
		t.Error("the log has no line for the reveal; the check above may have read an empty log")
	}
	_ = example
}

// exampleSecrets are secret answers and contact details of the example run.
var exampleSecrets = []string{
	"correct-horse-battery", "ck_4f2a9c1e:cs_77d0b3aa", "fortnox-client-secret-93ab", "PK_live_klarna_51c0", "postnord-apikey-8812",
	"anna.lind@nordicgarden.example", "Erik Berg",
}

func TestRevealSecretIsRecorded(t *testing.T) {
	s := startServer(t, t.TempDir())
	id := submitPersonalData(t, s)

	var masked struct {
		Step struct {
			Questions []struct {
				Key    string
				Answer struct{ Value string }
			}
		}
	}
	s.must(t, `query($p: ID!) { project(id: $p) { step(id: "collect-information") { questions { key answer { value } } } } }`, map[string]any{"p": id}, "project", &masked)
	for _, q := range masked.Step.Questions {
		if q.Key == "api-credentials@shop" && q.Answer.Value != "••••ffee" {
			t.Errorf("masked secret = %q, want ••••ffee", q.Answer.Value)
		}
	}

	var revealed struct {
		Value   string
		Version int
	}
	s.must(t, `mutation($p: ID!) { revealSecret(input: {projectId: $p, questionId: "platform-login"}) { value version } }`, map[string]any{"p": id}, "revealSecret", &revealed)
	if revealed.Value != personalValues.platformLogin || revealed.Version != 4 {
		t.Errorf("revealSecret = %+v, want %q at version 4", revealed, personalValues.platformLogin)
	}
	var history struct {
		Edges []struct{ Node struct{ Type, Data string } }
	}
	s.must(t, `query($p: ID!) { history(projectId: $p, filter: {types: ["SecretRevealed"]}) { edges { node { type data } } } }`, map[string]any{"p": id}, "history", &history)
	if len(history.Edges) != 1 || !strings.Contains(history.Edges[0].Node.Data, `"questionId":"platform-login"`) {
		t.Fatalf("history of reveals = %+v, want one SecretRevealed of platform-login", history.Edges)
	}
	if strings.Contains(history.Edges[0].Node.Data, personalValues.platformLogin) {
		t.Error("the SecretRevealed event holds the secret")
	}

	res := s.do(t, `mutation($p: ID!) { revealSecret(input: {projectId: $p, questionId: "sync-stock"}) { value } }`, map[string]any{"p": id})
	if res.code() != "BAD_USER_INPUT" {
		t.Errorf("revealing a BOOLEAN question: code %q, want BAD_USER_INPUT", res.code())
	}
}

func TestErasePersonalData(t *testing.T) {
	dir := t.TempDir()
	testErasure(t, func() *testServer { return startServer(t, dir) }, []string{"verify", "--data-dir", dir})
}

func TestErasePersonalDataOnInProcessESDB(t *testing.T) {
	fake := esdbtest.Start(t)
	start := func() *testServer { return startServer(t, t.TempDir(), onESDB(fake.ConnectionString())) }
	testErasure(t, start, []string{"verify", "--store", "esdb", "--esdb-url", fake.ConnectionString(), "--master-key", testMasterKey})
}

// testErasure erases one of two projects on a server from start, checks
// the views, history and rules before and after a restart, and runs the
// verify command with verifyArgs once the server has stopped.
func testErasure(t *testing.T, start func() *testServer, verifyArgs []string) {
	s := start()
	id := submitPersonalData(t, s)
	other := submitPersonalData(t, s)

	var erased struct {
		Project struct {
			Erasure struct{ Reason string }
		}
	}
	s.must(t, `mutation($p: ID!) { eraseProjectPersonalData(input: {projectId: $p, reason: "the customer asked for deletion"}) { project { erasure { reason } } } }`, map[string]any{"p": id}, "eraseProjectPersonalData", &erased)
	if erased.Project.Erasure.Reason != "the customer asked for deletion" {
		t.Errorf("erasure = %+v", erased.Project.Erasure)
	}

	const view = `query($p: ID!) { project(id: $p) { contacts { name email phone erased } step(id: "collect-information") { questions { key answer { value erased } } } } }`
	checkErased := func(t *testing.T, s *testServer, when string) {
		t.Helper()
		var p struct {
			Contacts []struct {
				Name, Email, Phone string
				Erased             bool
			}
			Step struct {
				Questions []struct {
					Key    string
					Answer *struct {
						Value  string
						Erased bool
					}
				}
			}
		}
		s.must(t, view, map[string]any{"p": id}, "project", &p)
		if len(p.Contacts) != 1 || p.Contacts[0].Name != "[erased]" || p.Contacts[0].Email != "[erased]" || p.Contacts[0].Phone != "[erased]" || !p.Contacts[0].Erased {
			t.Errorf("%s: contacts = %+v, want one erased contact", when, p.Contacts)
		}
		for _, q := range p.Step.Questions {
			if (q.Key == "platform-login" || q.Key == "api-credentials@shop") && (q.Answer == nil || q.Answer.Value != "[erased]" || !q.Answer.Erased) {
				t.Errorf("%s: answer %s = %+v, want erased", when, q.Key, q.Answer)
			}
		}
		var history struct {
			Edges []struct{ Node struct{ Data string } }
		}
		s.must(t, `query($p: ID!) { history(projectId: $p, filter: {types: ["ContactAdded", "AnswerSubmitted"]}) { edges { node { data } } } }`, map[string]any{"p": id}, "history", &history)
		for _, e := range history.Edges {
			for _, v := range personalValues.all() {
				if strings.Contains(e.Node.Data, v) {
					t.Errorf("%s: history still shows %q: %s", when, v, e.Node.Data)
				}
			}
		}
		if len(history.Edges) != 3 || !strings.Contains(history.Edges[2].Node.Data, `"[erased]"`) {
			t.Errorf("%s: history of answers and contacts = %+v, want 3 events with erased values", when, history.Edges)
		}
		var diff struct {
			Answers       []struct{ QuestionKey, NewValue string }
			ContactsAdded []struct {
				Contact struct {
					Name   string
					Erased bool
				}
			}
		}
		s.must(t, `query($p: ID!) { projectDiff(id: $p, from: {version: 1}, to: {version: 4}) { answers { questionKey newValue } contactsAdded { contact { name erased } } } }`, map[string]any{"p": id}, "projectDiff", &diff)
		if len(diff.ContactsAdded) != 1 || diff.ContactsAdded[0].Contact.Name != "[erased]" || !diff.ContactsAdded[0].Contact.Erased {
			t.Errorf("%s: projectDiff contacts added = %+v, want one erased contact", when, diff.ContactsAdded)
		}
		if len(diff.Answers) != 2 {
			t.Errorf("%s: projectDiff answers = %+v, want the two secret answers", when, diff.Answers)
		}
		for _, a := range diff.Answers {
			if a.NewValue != "[erased]" {
				t.Errorf("%s: projectDiff shows %s as %q, want \"[erased]\"", when, a.QuestionKey, a.NewValue)
			}
		}
		var report struct{ Ok bool }
		s.must(t, `{ verifyProjections { ok } }`, nil, "verifyProjections", &report)
		if !report.Ok {
			t.Errorf("%s: verifyProjections reports differences", when)
		}
	}
	checkErased(t, s, "after erasure")

	for name, query := range map[string]string{
		"reveal":        `mutation($p: ID!) { revealSecret(input: {projectId: $p, questionId: "platform-login"}) { value } }`,
		"add contact":   `mutation($p: ID!) { addContact(input: {projectId: $p, name: "New Person", email: "new@example.se"}) { project { id } } }`,
		"secret answer": `mutation($p: ID!) { submitAnswer(input: {projectId: $p, questionId: "platform-login", value: "another secret"}) { project { id } } }`,
	} {
		res := s.do(t, query, map[string]any{"p": id})
		if res.code() != "RULE_VIOLATION" || res.Errors[0].Extensions["rule"] != "PERSONAL_DATA_ERASED" {
			t.Errorf("%s after erasure: %+v, want RULE_VIOLATION PERSONAL_DATA_ERASED", name, res.Errors)
		}
	}
	var revealed struct{ Value string }
	s.must(t, `mutation($p: ID!) { revealSecret(input: {projectId: $p, questionId: "platform-login"}) { value } }`, map[string]any{"p": other}, "revealSecret", &revealed)
	if revealed.Value != personalValues.platformLogin {
		t.Errorf("another project's secret after the erasure = %q, want it unchanged", revealed.Value)
	}

	// A rebuild from the log, which cannot open the sealed values any
	// more, shows the same.
	s.stop(t)
	s = start()
	checkErased(t, s, "after restart")
	s.stop(t)

	var out bytes.Buffer
	if code := run(context.Background(), verifyArgs, env(nil), &out, io.Discard); code != 0 {
		t.Errorf("verify after erasure exited %d:\n%s", code, out.String())
	}
}

func TestCustomerEventsWithoutProjectID(t *testing.T) {
	s := startServer(t, t.TempDir(), withAuth)
	engineer := mintFor(t, "engineer", "")
	customer := mintFor(t, "customer", "acme")
	start := func(customerID string) string {
		var payload struct{ Project struct{ ID string } }
		res := s.as(t, engineer, startMutation, map[string]any{"input": map[string]any{
			"customerId": customerID, "customerName": customerID, "name": customerID, "systems": []map[string]any{{"name": "Shop", "platform": "SHOPIFY"}},
		}})
		_ = json.Unmarshal(res.Data["startProject"], &payload)
		return payload.Project.ID
	}
	own, other := start("acme"), start("globex")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lines := subscribeSSEAs(t, ctx, s, customer, `subscription { projectEvents { projectId type } }`, nil)
	waitSubscribers(t, ctx, s, 1)

	logTime := `mutation($p: ID!) { logTime(input: {projectId: $p, hours: 1, description: "work"}) { project { version } } }`
	for _, p := range []string{other, own, other, own} {
		if res := s.as(t, engineer, logTime, map[string]any{"p": p}); len(res.Errors) > 0 {
			t.Fatal(res.Errors)
		}
	}
	for range 2 {
		var msg struct {
			Data struct{ ProjectEvents struct{ ProjectID string } }
		}
		nextSSE(t, ctx, lines, &msg)
		if got := msg.Data.ProjectEvents.ProjectID; got != own {
			t.Errorf("customer received an event of project %s, want only its own %s", got, own)
		}
	}
}

func TestRotateMasterKey(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	id := submitPersonalData(t, s)
	s.stop(t)
	oldKey, err := os.ReadFile(filepath.Join(dir, DevMasterKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	newKeyFile := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(newKeyFile, []byte("bmV3IG1hc3RlciBrZXkgb2YgdGhpcnR5LXR3byBieXQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventsBefore, err := os.ReadFile(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"rotate-master-key", "--data-dir", dir, "--new-master-key-file", newKeyFile}, env(nil), &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "data keys rewrapped: 1,") {
		t.Fatalf("rotate-master-key exited %d: %s%s", code, out.String(), errOut.String())
	}
	eventsAfter, _ := os.ReadFile(filepath.Join(dir, "events.db"))
	if !bytes.Equal(eventsBefore, eventsAfter) {
		t.Error("the rotation changed the event store file")
	}

	// With the new key the secret opens; the old key no longer does.
	s = startServer(t, dir, func(c *Config) { c.MasterKeyFile = newKeyFile })
	var revealed struct{ Value string }
	s.must(t, `mutation($p: ID!) { revealSecret(input: {projectId: $p, questionId: "platform-login"}) { value } }`, map[string]any{"p": id}, "revealSecret", &revealed)
	if revealed.Value != personalValues.platformLogin {
		t.Errorf("secret after rotation = %q, want %q", revealed.Value, personalValues.platformLogin)
	}
	s.stop(t)

	out.Reset()
	errOut.Reset()
	code = run(context.Background(), []string{"replay", "--data-dir", dir, "--master-key", strings.TrimSpace(string(oldKey))}, env(nil), &out, &errOut)
	if code == 0 {
		t.Errorf("replay with the old master key succeeded:\n%s", out.String())
	}
	out.Reset()
	code = run(context.Background(), []string{"rotate-master-key", "--data-dir", dir, "--new-master-key-file", newKeyFile}, env(nil), &out, io.Discard)
	if code != 0 || !strings.Contains(out.String(), "data keys rewrapped: 0,") {
		t.Errorf("running the finished rotation again exited %d: %s; want 0 keys rewrapped", code, out.String())
	}
	errOut.Reset()
	code = run(context.Background(), []string{"rotate-master-key", "--data-dir", dir, "--master-key-file", newKeyFile, "--new-master-key-file", newKeyFile}, env(nil), io.Discard, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "is the current one") {
		t.Errorf("a rotation to the current key exited %d: %s; want an error", code, errOut.String())
	}

	// A server started without a key after the old key file was deleted
	// neither starts nor leaves a new key file behind.
	oldKeyPath := filepath.Join(dir, DevMasterKeyFileName)
	if err := os.Rename(oldKeyPath, oldKeyPath+".old"); err != nil {
		t.Fatal(err)
	}
	cfgNoKey := DefaultConfig()
	cfgNoKey.Addr, cfgNoKey.DataDir = "127.0.0.1:0", dir
	noKey := NewMain(cfgNoKey, zerolog.Nop())
	if err := noKey.Open(context.Background()); err == nil {
		noKey.Close(context.Background())
		t.Error("the server started without the master key that wraps the data keys")
	} else if !strings.Contains(err.Error(), "--master-key-file") {
		t.Errorf("start without the master key: %v, want an error naming --master-key-file", err)
	}
	if _, err := os.Stat(oldKeyPath); err == nil {
		t.Error("a refused start left a new master key file in the data directory")
	}
	if err := os.Rename(oldKeyPath+".old", oldKeyPath); err != nil {
		t.Fatal(err)
	}

	// A server started with the old key, as happens when the key file in
	// the data directory is picked up after a rotation, refuses to start.
	cfg := DefaultConfig()
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", dir
	m := NewMain(cfg, zerolog.Nop())
	err = m.Open(context.Background())
	if err == nil {
		m.Close(context.Background())
		t.Fatal("the server started with the master key from before the rotation")
	}
	if !strings.Contains(err.Error(), "not by the configured master key") {
		t.Errorf("start with the old key: %v, want an error naming the master keys", err)
	}
}

func TestTokensNotLogged(t *testing.T) {
	var logs syncBuffer
	s := startServerWithLog(t, t.TempDir(), zerolog.New(&logs).Level(zerolog.DebugLevel), withAuth)
	valid := mintFor(t, "engineer", "")
	forged := valid[:strings.LastIndexByte(valid, '.')+1] + "c2lnbmF0dXJlLW9mLWFub3RoZXIta2V5"

	if res := s.as(t, valid, `{ dashboard { totalProjects } }`, nil); len(res.Errors) > 0 {
		t.Fatalf("request with a valid token failed: %+v", res.Errors)
	}
	if res := s.as(t, forged, `{ dashboard { totalProjects } }`, nil); res.code() != "UNAUTHENTICATED" {
		t.Fatalf("request with a forged token: code %q, want UNAUTHENTICATED", res.code())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lines := subscribeSSEAs(t, ctx, s, valid, `subscription { dashboardChanged { totalProjects } }`, nil)
	var first map[string]any
	nextSSE(t, ctx, lines, &first)
	cancel()
	s.stop(t)

	log := logs.String()
	if !strings.Contains(log, `"status":401`) {
		t.Fatalf("the log has no line for the rejected request; the check below may have read too little:\n%s", log)
	}
	for name, token := range map[string]string{"valid": valid, "forged": forged} {
		signature := token[strings.LastIndexByte(token, '.')+1:]
		if strings.Contains(log, signature) {
			t.Errorf("the log holds the signature of the %s token", name)
		}
	}
}

func TestLostKeyStorageStopsStart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	id := submitPersonalData(t, s)
	s.stop(t)
	if err := os.Remove(filepath.Join(dir, KeyFileName)); err != nil {
		t.Fatal(err)
	}
	// The master key file is gone too, and the refused start must not
	// make a new one that a restored key storage would then reject.
	keyPath := filepath.Join(dir, DevMasterKeyFileName)
	if err := os.Rename(keyPath, keyPath+".saved"); err != nil {
		t.Fatal(err)
	}

	cfg := DefaultConfig()
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", dir
	m := NewMain(cfg, zerolog.Nop())
	err := m.Open(context.Background())
	if err == nil {
		m.Close(context.Background())
		t.Fatal("the server started without its key storage")
	}
	if !strings.Contains(err.Error(), "holds no keys") || !strings.Contains(err.Error(), "--new-key-storage") {
		t.Errorf("start without the key storage: %v, want an error that names the missing keys and the flag", err)
	}
	if _, err := os.Stat(keyPath); err == nil {
		t.Error("the refused start created a new master key file")
	}
	if err := os.Rename(keyPath+".saved", keyPath); err != nil {
		t.Fatal(err)
	}

	// With the flag the sealed values cannot be opened, so they read as erased.
	s = startServer(t, dir, func(c *Config) { c.NewKeyStorage = true })
	var project struct {
		Version  int
		Contacts []struct{ Name string }
	}
	const view = `query($p: ID!) { project(id: $p) { version contacts { name } } }`
	s.must(t, view, map[string]any{"p": id}, "project", &project)
	if len(project.Contacts) != 1 || project.Contacts[0].Name != "[erased]" {
		t.Errorf("contacts with a new key storage = %+v, want one erased contact", project.Contacts)
	}
	version := project.Version

	// The project takes no new personal data, which a new data key would
	// make unreadable beside the old, and records no reveal it cannot do.
	for name, query := range map[string]string{
		"add contact": `mutation($p: ID!) { addContact(input: {projectId: $p, name: "New Person", email: "new@example.se"}) { project { id } } }`,
		"reveal":      `mutation($p: ID!) { revealSecret(input: {projectId: $p, questionId: "platform-login"}) { value } }`,
	} {
		if res := s.do(t, query, map[string]any{"p": id}); res.code() != "RULE_VIOLATION" {
			t.Errorf("%s with the key lost: %+v, want RULE_VIOLATION", name, res.Errors)
		}
	}
	s.must(t, view, map[string]any{"p": id}, "project", &project)
	if project.Version != version {
		t.Errorf("rejected requests moved the project from version %d to %d", version, project.Version)
	}
	s.must(t, `mutation($p: ID!) { eraseProjectPersonalData(input: {projectId: $p, reason: "keys lost"}) { project { version } } }`, map[string]any{"p": id}, "", nil)
	s.stop(t)

	s = startServer(t, dir)
	s.must(t, view, map[string]any{"p": id}, "project", &project)
	if project.Version != version+1 {
		t.Errorf("project after erasure and restart at version %d, want %d", project.Version, version+1)
	}
	var report struct{ Ok bool }
	s.must(t, `{ verifyProjections { ok } }`, nil, "verifyProjections", &report)
	if !report.Ok {
		t.Error("verifyProjections reports differences after the lost keys")
	}
}
