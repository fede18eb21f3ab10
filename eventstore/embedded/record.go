package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/integrationplatform/onboarding/eventstore"
)

// recordFormat is the first byte of every stored record. Change it, and
// teach decodeRecord the old layout, whenever the layout below changes.
const recordFormat = 1

// Offsets of the fixed-width fields at the start of a record. The writer
// fills revision and recordedAt in place at commit, after Append encoded
// the rest of the record on the caller's goroutine.
const (
	revisionOffset   = 1
	recordedAtOffset = revisionOffset + 8
	variableOffset   = recordedAtOffset + 8
)

// A record is the stored form of one event, kept in the events bucket under
// its big-endian sequence number:
//
//	byte     format, recordFormat
//	uint64   revision in the stream, big-endian
//	int64    RecordedAt in Unix nanoseconds, big-endian
//	uvarint  number of events after this one in the same append
//	string   stream name
//	string   event id
//	string   event type
//	bytes    data
//	bytes    metadata
//
// Each string and bytes field is a uvarint length followed by the bytes.
// The count of later events lets an idempotent retry rebuild the original
// AppendResult: one append's events get consecutive sequence numbers and
// consecutive revisions, so the last one is this one plus that count.

// encodeRecord returns a record for event with the revision and RecordedAt
// fields still zero.
func encodeRecord(stream string, event eventstore.EventData, later uint64) []byte {
	size := variableOffset + binary.MaxVarintLen64*5 +
		len(stream) + len(event.ID) + len(event.Type) + len(event.Data) + len(event.Metadata)
	record := make([]byte, variableOffset, size)
	record[0] = recordFormat
	record = binary.AppendUvarint(record, later)
	record = appendField(record, []byte(stream))
	record = appendField(record, []byte(event.ID))
	record = appendField(record, []byte(event.Type))
	record = appendField(record, event.Data)
	record = appendField(record, event.Metadata)
	return record
}

func appendField(record, field []byte) []byte {
	record = binary.AppendUvarint(record, uint64(len(field)))
	return append(record, field...)
}

// setRecordPosition fills the revision and RecordedAt fields, which the
// writer assigns at commit.
func setRecordPosition(record []byte, revision uint64, recordedAt time.Time) {
	binary.BigEndian.PutUint64(record[revisionOffset:], revision)
	binary.BigEndian.PutUint64(record[recordedAtOffset:], uint64(recordedAt.UnixNano()))
}

// recordHeader contains the fields of a record that the writer reads for an
// idempotent retry and that a filter reads to select the event.
type recordHeader struct {
	revision   uint64
	recordedAt int64
	later      uint64
	stream     []byte
	// rest is the record after the stream name.
	rest []byte
}

var errTruncated = errors.New("record is truncated")

// decodeRecordHeader parses the header of record. The slices in the result
// point into record, so they are valid only while record is.
func decodeRecordHeader(record []byte) (recordHeader, error) {
	if len(record) < variableOffset {
		return recordHeader{}, errTruncated
	}
	if record[0] != recordFormat {
		return recordHeader{}, fmt.Errorf("record format %d is unknown, expected %d", record[0], recordFormat)
	}
	header := recordHeader{
		revision:   binary.BigEndian.Uint64(record[revisionOffset:]),
		recordedAt: int64(binary.BigEndian.Uint64(record[recordedAtOffset:])),
	}
	rest := record[variableOffset:]
	later, n := binary.Uvarint(rest)
	if n <= 0 {
		return recordHeader{}, errTruncated
	}
	header.later = later
	header.stream, header.rest, n = readField(rest[n:])
	if n < 0 {
		return recordHeader{}, errTruncated
	}
	return header, nil
}

// readField splits the length-prefixed field at the start of b from the
// bytes after it. It returns a negative n when b is too short.
func readField(b []byte) (field, rest []byte, n int) {
	length, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < length {
		return nil, nil, -1
	}
	end := n + int(length)
	return b[n:end], b[end:], end
}

// decodeRecord copies the record stored under seq into a RecordedEvent. The
// result does not point into record, which bbolt owns. When stream is not
// empty, it is used as the event's stream name in place of a copy of the
// stored one, which must be equal.
func decodeRecord(seq uint64, record []byte, stream string) (eventstore.RecordedEvent, error) {
	header, err := decodeRecordHeader(record)
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("decode event %d: %w", seq, err)
	}
	if stream == "" {
		stream = string(header.stream)
	}

	var fields [4][]byte
	rest := header.rest
	for i := range fields {
		var n int
		fields[i], rest, n = readField(rest)
		if n < 0 {
			return eventstore.RecordedEvent{}, fmt.Errorf("decode event %d: %w", seq, errTruncated)
		}
	}
	id, eventType, data, metadata := fields[0], fields[1], fields[2], fields[3]

	// One allocation holds both payloads. The capacity limit on Data keeps
	// an append to it from overwriting Metadata.
	payload := make([]byte, len(data)+len(metadata))
	copy(payload, data)
	copy(payload[len(data):], metadata)
	event := eventstore.RecordedEvent{
		ID:         string(id),
		StreamID:   stream,
		Type:       string(eventType),
		Revision:   header.revision,
		Position:   eventstore.Position{Commit: seq, Prepare: seq},
		RecordedAt: time.Unix(0, header.recordedAt).UTC(),
	}
	if len(data) > 0 {
		event.Data = payload[:len(data):len(data)]
	}
	if len(metadata) > 0 {
		event.Metadata = payload[len(data):]
	}
	return event, nil
}
