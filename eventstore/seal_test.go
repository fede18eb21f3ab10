package eventstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
)

// testKeys is a keyring in memory whose key of a project is the SHA-256
// of its id.
type testKeys struct {
	mu        sync.Mutex
	destroyed map[string]bool
	// lost lists projects whose key the storage no longer has.
	lost map[string]bool
}

func newTestKeys() *testKeys { return &testKeys{destroyed: map[string]bool{}, lost: map[string]bool{}} }

func (k *testKeys) DataKey(_ context.Context, projectID string, _ bool) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.destroyed[projectID] {
		return nil, ErrKeyDestroyed
	}
	if k.lost[projectID] {
		return nil, ErrKeyNotFound
	}
	key := sha256.Sum256([]byte(projectID))
	return key[:], nil
}

func (k *testKeys) DestroyKey(_ context.Context, projectID string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.destroyed[projectID] = true
	return nil
}

// Forget does nothing: testKeys caches no keys.
func (k *testKeys) Forget(string) {}

var (
	secretSample  = &domain.AnswerSubmitted{QuestionID: "api-credentials", SystemID: "webshop", Value: "ck_live_9f8e7d6c", Secret: true}
	contactSample = &domain.ContactAdded{ContactID: "c1", Name: "Anna Lind", Email: "anna@example.com", Phone: "+46 70 123 45 67", Role: "Owner"}
)

func encodeRecord(t *testing.T, c *Codec, id string, e domain.Event) RecordedEvent {
	t.Helper()
	data, _, err := c.Encode(context.Background(), id, "p1", e, sampleMetadata, "")
	if err != nil {
		t.Fatal(err)
	}
	return RecordedEvent{ID: id, StreamID: StreamName("p1"), Type: data.Type, Data: data.Data, Metadata: data.Metadata}
}

func TestSealKeepsPlainTextOutOfStoredBytes(t *testing.T) {
	c := NewCodec(newTestKeys())
	for _, e := range []domain.PersonalData{secretSample, contactSample} {
		rec := encodeRecord(t, c, "e1", e)
		for _, f := range e.PersonalFields() {
			if bytes.Contains(rec.Data, []byte(*f)) || bytes.Contains(rec.Metadata, []byte(*f)) {
				t.Errorf("stored %s holds %q in plain text: %s", e.EventType(), *f, rec.Data)
			}
		}
		if !bytes.Contains(rec.Data, []byte(sealedPrefix)) {
			t.Errorf("stored %s has no sealed value: %s", e.EventType(), rec.Data)
		}
	}
	if !bytes.Contains(encodeRecord(t, c, "e2", contactSample).Data, []byte(`"role":"Owner"`)) {
		t.Error("the contact's role was sealed; it is a job title and stays readable")
	}
}

func TestSealLeavesCallerEventPlain(t *testing.T) {
	e := *contactSample
	encodeRecord(t, NewCodec(newTestKeys()), "e1", &e)
	if e != *contactSample {
		t.Errorf("Encode changed the caller's event to %+v", e)
	}
}

func TestOpenRoundTrip(t *testing.T) {
	c := NewCodec(newTestKeys())
	for _, want := range []domain.Event{secretSample, contactSample} {
		env, err := c.Decode(context.Background(), encodeRecord(t, c, "e1", want))
		if err != nil {
			t.Fatal(err)
		}
		if got := env.Event; !eventsEqual(got, want) {
			t.Errorf("decoded %+v, expected %+v", got, want)
		}
	}
}

func eventsEqual(a, b domain.Event) bool {
	switch a := a.(type) {
	case *domain.AnswerSubmitted:
		return *a == *b.(*domain.AnswerSubmitted)
	case *domain.ContactAdded:
		return *a == *b.(*domain.ContactAdded)
	}
	return false
}

func TestOpenAfterDestroyShowsErased(t *testing.T) {
	keys := newTestKeys()
	c := NewCodec(keys)
	secret := encodeRecord(t, c, "e1", secretSample)
	contact := encodeRecord(t, c, "e2", contactSample)
	if err := c.DestroyKey(context.Background(), "p1"); err != nil {
		t.Fatal(err)
	}

	env, err := c.Decode(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	if a := env.Event.(*domain.AnswerSubmitted); a.Value != domain.ErasedValue || !a.Erased {
		t.Errorf("secret after destroy = %+v, expected value %q and Erased", a, domain.ErasedValue)
	}
	env, err = c.Decode(context.Background(), contact)
	if err != nil {
		t.Fatal(err)
	}
	want := domain.ContactAdded{ContactID: "c1", Name: domain.ErasedValue, Email: domain.ErasedValue, Phone: domain.ErasedValue, Role: "Owner", Erased: true}
	if got := *env.Event.(*domain.ContactAdded); got != want {
		t.Errorf("contact after destroy = %+v, expected %+v", got, want)
	}
}

func TestOpenRejectsMovedValue(t *testing.T) {
	c := NewCodec(newTestKeys())
	rec := encodeRecord(t, c, "e1", secretSample)
	rec.ID = "e2"

	if _, err := c.Decode(context.Background(), rec); err == nil {
		t.Error("a sealed value copied into another event opened without error")
	}
}

func TestOpenRejectsAlteredValue(t *testing.T) {
	c := NewCodec(newTestKeys())
	rec := encodeRecord(t, c, "e1", secretSample)
	i := bytes.Index(rec.Data, []byte(sealedPrefix)) + len(sealedPrefix) + 20
	altered := bytes.Clone(rec.Data)
	altered[i] ^= 'A' ^ 'B'
	if altered[i] == rec.Data[i] {
		altered[i] = 'A'
	}
	rec.Data = altered

	if _, err := c.Decode(context.Background(), rec); err == nil {
		t.Error("an altered sealed value opened without error")
	}
}

func TestEncodeWithoutKeyringRejectsPersonalData(t *testing.T) {
	c := NewCodec(nil)
	_, _, err := c.Encode(context.Background(), "e1", "p1", contactSample, sampleMetadata, "")
	if err == nil || !strings.Contains(err.Error(), "no keyring") {
		t.Errorf("Encode of a contact without a keyring returned %v, expected an error naming the missing keyring", err)
	}
	if _, _, err := c.Encode(context.Background(), "e2", "p1", &domain.StepCompleted{StepID: "flows"}, sampleMetadata, ""); err != nil {
		t.Errorf("Encode of an event without personal data failed without a keyring: %v", err)
	}
}

func TestDecodeWithoutKeyringRejectsSealedValue(t *testing.T) {
	rec := encodeRecord(t, NewCodec(newTestKeys()), "e1", secretSample)

	_, err := NewCodec(nil).Decode(context.Background(), rec)

	if err == nil || !strings.Contains(err.Error(), "no keyring") {
		t.Errorf("Decode of a sealed value without a keyring returned %v, expected an error naming the missing keyring", err)
	}
}

func TestDecodeErasureDestroysKey(t *testing.T) {
	keys := newTestKeys()
	c := NewCodec(keys)
	contact := encodeRecord(t, c, "e1", contactSample)

	if _, err := c.Decode(context.Background(), encodeRecord(t, c, "e2", &domain.PersonalDataErased{Reason: "request"})); err != nil {
		t.Fatal(err)
	}

	if !keys.destroyed["p1"] {
		t.Error("decoding the erasure left the data key in place")
	}
	env, err := c.Decode(context.Background(), contact)
	if err != nil {
		t.Fatal(err)
	}
	if got := env.Event.(*domain.ContactAdded); !got.Erased {
		t.Errorf("contact after decoding the erasure = %+v, want it erased", got)
	}
}

// failingKeys fails to destroy keys with err.
type failingKeys struct {
	*testKeys
	err error
}

func (k failingKeys) DestroyKey(context.Context, string) error { return k.err }

func TestDecodeErasureRetriesTransientDestroyError(t *testing.T) {
	c := NewCodec(failingKeys{newTestKeys(), fmt.Errorf("tombstone datakey-p1: %w", ErrUnavailable)})

	_, err := c.Decode(context.Background(), encodeRecord(t, c, "e1", &domain.PersonalDataErased{Reason: "request"}))

	if !IsTransient(err) {
		t.Errorf("Decode of an erasure whose key storage is unreachable returned %v, want a transient error so that the projector retries", err)
	}
}

func TestDecodeErasureReportsPermanentDestroyError(t *testing.T) {
	c := NewCodec(failingKeys{newTestKeys(), errors.New("access denied")})
	var reported []string
	c.OnDestroyError(func(projectID string, err error) { reported = append(reported, projectID+": "+err.Error()) })

	env, err := c.Decode(context.Background(), encodeRecord(t, c, "e1", &domain.PersonalDataErased{Reason: "request"}))

	if err != nil {
		t.Fatalf("Decode of an erasure whose key cannot be destroyed for good returned %v, want the event so that the read models show the erasure", err)
	}
	if _, ok := env.Event.(*domain.PersonalDataErased); !ok {
		t.Errorf("decoded %T, want the erasure", env.Event)
	}
	if len(reported) != 1 || !strings.Contains(reported[0], "access denied") {
		t.Errorf("reported destroy errors = %q, want the access denied error of p1", reported)
	}
}

func TestRequestHashIsKeyed(t *testing.T) {
	keys := newTestKeys()
	request := []byte("AddContact +46 70 123 45 67")
	keyed, err := NewCodec(keys).RequestHash(context.Background(), "p1", request, true)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := NewCodec(nil).RequestHash(context.Background(), "p1", request, true)
	if keyed == plain || keyed == "" {
		t.Errorf("keyed request hash %q equals the plain SHA-256 %q, which anyone can recompute", keyed, plain)
	}
	other, _ := NewCodec(keys).RequestHash(context.Background(), "p2", request, true)
	if other == keyed {
		t.Error("two projects with different data keys gave the same request hash")
	}
	_ = keys.DestroyKey(context.Background(), "p1")
	if got, err := NewCodec(keys).RequestHash(context.Background(), "p1", request, true); got != "" || err != nil {
		t.Errorf("RequestHash after destroy = %q, %v; expected \"\" and no error", got, err)
	}
}

// BenchmarkDecodeContact decodes a contact sealed with a data key beside
// the same contact stored plain, as events from before sealing are, so the
// cost of opening three sealed fields shows as a ratio from one run.
func BenchmarkDecodeContact(b *testing.B) {
	c := NewCodec(newTestKeys())
	data, _, err := c.Encode(context.Background(), "e1", "p1", contactSample, sampleMetadata, "")
	if err != nil {
		b.Fatal(err)
	}
	sealed := RecordedEvent{ID: "e1", StreamID: StreamName("p1"), Type: data.Type, Data: data.Data, Metadata: data.Metadata}
	plain := sealed
	plain.Data, _ = json.Marshal(contactSample)

	for name, rec := range map[string]RecordedEvent{"sealed": sealed, "plain": plain} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.Decode(context.Background(), rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestOpenWithLostKeyMarksItDestroyed(t *testing.T) {
	keys := newTestKeys()
	c := NewCodec(keys)
	contact := encodeRecord(t, c, "e1", contactSample)
	keys.lost["p1"] = true

	env, err := c.Decode(context.Background(), contact)

	if err != nil {
		t.Fatal(err)
	}
	if got := env.Event.(*domain.ContactAdded); !got.Erased {
		t.Errorf("contact whose key is lost = %+v, want it erased", got)
	}
	if !keys.destroyed["p1"] {
		t.Error("the lost key was not marked destroyed, so a new key could be made for the project")
	}
	_, _, err = c.Encode(context.Background(), "e2", "p1", contactSample, sampleMetadata, "")
	var de *domain.Error
	if !errors.As(err, &de) || de.Rule != domain.RulePersonalDataErased {
		t.Errorf("Encode of a contact after the key was lost returned %v, want a PERSONAL_DATA_ERASED rule violation", err)
	}
}
