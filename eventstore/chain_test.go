package eventstore

import (
	"strings"
	"testing"
)

func sealed(prev string, revision uint64, data string) (RecordedEvent, string) {
	md, hash := SealMetadata(prev, "TimeLogged", []byte(data), []byte(`{"actor":{"userId":"u1"},"schemaVersion":1}`))
	return RecordedEvent{ID: "e", StreamID: "project-1", Type: "TimeLogged", Revision: revision, Data: []byte(data), Metadata: md}, hash
}

func TestSealRoundTrip(t *testing.T) {
	for _, md := range []string{`{"a":1}`, `{}`, `{"actor":{"userId":"u"},"x":"y"}`} {
		stored, hash := SealMetadata("", "T", []byte(`{}`), []byte(md))
		got, gotHash, ok := SplitSeal(stored)
		if !ok || string(got) != md || gotHash != hash {
			t.Errorf("SplitSeal(%s) = %s, %s, %v; want %s, %s", stored, got, gotHash, ok, md, hash)
		}
	}
}

func TestChainVerifierAcceptsIntactChain(t *testing.T) {
	v := NewChainVerifier()
	prev := ""
	for i := range 5 {
		e, hash := sealed(prev, uint64(i), `{"hours":1}`)
		if err := v.Add(e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		prev = hash
	}
	if len(v.Failures) != 0 || v.Events != 5 {
		t.Errorf("failures %v after %d events", v.Failures, v.Events)
	}
}

func TestChainVerifierFindsAlteredData(t *testing.T) {
	v := NewChainVerifier()
	first, hash := sealed("", 0, `{"hours":1}`)
	second, _ := sealed(hash, 1, `{"hours":2}`)
	second.Data = []byte(`{"hours":9}`)
	if err := v.Add(first); err != nil {
		t.Fatal(err)
	}
	err := v.Add(second)
	if err == nil || err.Revision != 1 || !strings.Contains(err.Reason, "does not match") {
		t.Errorf("altered event: %v, want a hash mismatch at revision 1", err)
	}
}

func TestChainVerifierFindsGap(t *testing.T) {
	v := NewChainVerifier()
	first, h1 := sealed("", 0, `{"hours":1}`)
	_, h2 := sealed(h1, 1, `{"hours":2}`)
	third, _ := sealed(h2, 2, `{"hours":3}`)
	_ = v.Add(first)
	err := v.Add(third)
	if err == nil || err.Revision != 2 || !strings.Contains(err.Reason, "missing") {
		t.Errorf("gap: %v, want a missing event before revision 2", err)
	}
}

func TestChainVerifierFindsMissingHash(t *testing.T) {
	v := NewChainVerifier()
	err := v.Add(RecordedEvent{StreamID: "project-1", Type: "T", Metadata: []byte(`{"a":1}`)})
	if err == nil || !strings.Contains(err.Reason, "no hash") {
		t.Errorf("unsealed event: %v, want a missing hash", err)
	}
}

func TestChainVerifierFindsRepeatedRevision(t *testing.T) {
	v := NewChainVerifier()
	first, _ := sealed("", 0, `{"hours":1}`)
	_ = v.Add(first)
	err := v.Add(first)
	if err == nil || !strings.Contains(err.Reason, "repeats") {
		t.Errorf("repeated revision: %v, want a message that it repeats", err)
	}
}
