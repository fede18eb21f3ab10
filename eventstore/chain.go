package eventstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// The hash chain makes a project's stream tamper-evident. Each event's
// metadata ends with a "hash" member, the SHA-256 in lowercase hex of a
// canonical encoding of four fields. They are the event's type, its data,
// its metadata without the hash member, and the hash of the previous event
// of the stream, which is empty for the first event. Each of the four fields is written as its length
// (8 bytes, big-endian) followed by its bytes, after the prefix
// "onboarding-chain-v1". The metadata without the hash member is the stored
// metadata with its final `,"hash":"…"` member removed, so verifying needs
// no JSON parsing.

const chainPrefix = "onboarding-chain-v1"

// hashMember is the start of the metadata's final hash member.
var hashMember = []byte(`"hash":"`)

// ChainHash returns the hash of an event whose metadata, without the hash
// member, is metadata, and whose predecessor in its stream has prevHash.
func ChainHash(prevHash, eventType string, data, metadata []byte) string {
	h := sha256.New()
	var length [8]byte
	h.Write([]byte(chainPrefix))
	for _, field := range [][]byte{[]byte(eventType), data, metadata, []byte(prevHash)} {
		binary.BigEndian.PutUint64(length[:], uint64(len(field)))
		h.Write(length[:])
		h.Write(field)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SealMetadata appends the hash member to metadata, a JSON object without
// one, and returns the stored metadata and the hash.
func SealMetadata(prevHash, eventType string, data, metadata []byte) ([]byte, string) {
	hash := ChainHash(prevHash, eventType, data, metadata)
	trimmed := bytes.TrimRight(metadata, " \n")
	sealed := make([]byte, 0, len(trimmed)+len(hash)+12)
	sealed = append(sealed, trimmed[:len(trimmed)-1]...)
	if !bytes.Equal(bytes.TrimSpace(trimmed[:len(trimmed)-1]), []byte("{")) {
		sealed = append(sealed, ',')
	}
	sealed = append(sealed, hashMember...)
	sealed = append(sealed, hash...)
	sealed = append(sealed, '"', '}')
	return sealed, hash
}

// SplitSeal returns the metadata without its hash member and the hash, or
// false when the metadata does not end with a hash member.
func SplitSeal(stored []byte) (metadata []byte, hash string, ok bool) {
	const hexLen = 2 * sha256.Size
	end := len(stored) - len(`"}`)
	start := end - hexLen
	if start < len(hashMember)+1 || !bytes.HasSuffix(stored, []byte(`"}`)) || !bytes.Equal(stored[start-len(hashMember):start], hashMember) {
		return nil, "", false
	}
	hash = string(stored[start:end])
	head := stored[:start-len(hashMember)]
	switch {
	case bytes.HasSuffix(head, []byte(",")):
		head = head[:len(head)-1]
	case !bytes.HasSuffix(head, []byte("{")):
		return nil, "", false
	}
	metadata = make([]byte, 0, len(head)+1)
	metadata = append(metadata, head...)
	metadata = append(metadata, '}')
	return metadata, hash, true
}

// ChainError reports the first event of a stream whose hash or revision
// does not match the chain.
type ChainError struct {
	Stream   string
	Revision uint64
	EventID  string
	Reason   string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("stream %s, revision %d (event %s): %s", e.Stream, e.Revision, e.EventID, e.Reason)
}

// ChainVerifier checks the hash chains of many streams from events given
// in stream order per stream, such as a read of $all. It is not safe for
// concurrent use.
type ChainVerifier struct {
	streams map[string]*chainState
	// Failures lists the first broken event of each broken stream.
	Failures []*ChainError
	// Events counts the events checked.
	Events int
}

type chainState struct {
	next     uint64
	lastHash string
	broken   bool
}

// NewChainVerifier returns a verifier with no streams seen.
func NewChainVerifier() *ChainVerifier {
	return &ChainVerifier{streams: map[string]*chainState{}}
}

// Add checks one event against its stream's chain. It returns the failure
// when this event is the first broken one of its stream; later events of a
// broken stream are not checked.
func (v *ChainVerifier) Add(r RecordedEvent) *ChainError {
	v.Events++
	st, ok := v.streams[r.StreamID]
	if !ok {
		st = &chainState{}
		v.streams[r.StreamID] = st
	}
	if st.broken {
		return nil
	}
	fail := func(reason string) *ChainError {
		st.broken = true
		err := &ChainError{Stream: r.StreamID, Revision: r.Revision, EventID: r.ID, Reason: reason}
		v.Failures = append(v.Failures, err)
		return err
	}
	if r.Revision < st.next {
		return fail(fmt.Sprintf("revision %d repeats or goes back: the stream was already at revision %d", r.Revision, st.next-1))
	}
	if r.Revision > st.next {
		return fail(fmt.Sprintf("revision %d follows revision %d: %d event(s) missing", r.Revision, int64(st.next)-1, r.Revision-st.next))
	}
	metadata, hash, ok := SplitSeal(r.Metadata)
	if !ok {
		return fail("metadata has no hash member at its end")
	}
	if want := ChainHash(st.lastHash, r.Type, r.Data, metadata); want != hash {
		return fail(fmt.Sprintf("hash %s does not match the event's content, which hashes to %s", hash, want))
	}
	st.next++
	st.lastHash = hash
	return nil
}

// Streams returns the number of streams seen.
func (v *ChainVerifier) Streams() int { return len(v.streams) }
