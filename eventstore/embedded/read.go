package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"

	"github.com/integrationplatform/onboarding/eventstore"
)

// ctxCheckInterval is how many events a read scans between checks of its
// context.
const ctxCheckInterval = 1024

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var events []eventstore.RecordedEvent
	err := s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(headsBucket).Get([]byte(stream)) == nil {
			return fmt.Errorf("read stream %q: %w", stream, eventstore.ErrStreamNotFound)
		}

		records := tx.Bucket(eventsBucket)
		prefix := streamPrefix(stream)
		cursor := tx.Bucket(streamsBucket).Cursor()
		for key, value := cursor.Seek(streamKey(stream, from)); key != nil && bytes.HasPrefix(key, prefix); key, value = cursor.Next() {
			if len(events) > 0 && len(events)%ctxCheckInterval == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}

			seq := binary.BigEndian.Uint64(value)
			record := records.Get(value)
			if record == nil {
				return fmt.Errorf("read stream %q: the stream index points to event %d, which is missing; the data file is damaged", stream, seq)
			}
			event, err := decodeRecord(seq, record, stream)
			if err != nil {
				return fmt.Errorf("read stream %q: %w", stream, err)
			}
			events = append(events, event)
			if limit > 0 && len(events) >= limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return events, nil
}

// ReadAll implements eventstore.Store. It reads in one bbolt read
// transaction, which keeps the file from growing while it runs, so read
// large stores in pages with a limit.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int, filter eventstore.Filter) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	from, ok := firstSeqAfter(after)
	if !ok {
		return nil, nil
	}

	var events []eventstore.RecordedEvent
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		events, _, err = scanAll(ctx, tx, from, filter, limit, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	return events, nil
}

// firstSeqAfter returns the first sequence number whose position,
// {seq, seq}, comes after p. It returns false when there is none.
func firstSeqAfter(p eventstore.Position) (uint64, bool) {
	// {Commit, Commit} is after p only when Prepare is below Commit.
	if p.Prepare < p.Commit {
		return p.Commit, true
	}
	if p.Commit == math.MaxUint64 {
		return 0, false
	}
	return p.Commit + 1, true
}

// scanAll returns the events of $all from sequence number from on that
// match filter, stopping after limit matches (no limit when limit <= 0) or
// after maxScan events scanned (no cap when maxScan <= 0). next is the
// sequence number after the last event scanned, or from when the scan found
// no event at all.
func scanAll(ctx context.Context, tx *bolt.Tx, from uint64, filter eventstore.Filter, limit, maxScan int) (events []eventstore.RecordedEvent, next uint64, err error) {
	prefix := []byte(filter.StreamPrefix)
	next = from
	scanned := 0
	cursor := tx.Bucket(eventsBucket).Cursor()
	for key, record := cursor.Seek(seqKey(from)); key != nil; key, record = cursor.Next() {
		scanned++
		if scanned%ctxCheckInterval == 0 {
			if err := ctx.Err(); err != nil {
				return nil, next, err
			}
		}

		seq := binary.BigEndian.Uint64(key)
		next = seq + 1
		header, err := decodeRecordHeader(record)
		if err != nil {
			return nil, next, fmt.Errorf("read $all: decode event %d: %w", seq, err)
		}
		// The same rule as filter.Match, without converting the name to a string.
		if bytes.HasPrefix(header.stream, prefix) {
			event, err := decodeRecord(seq, record, "")
			if err != nil {
				return nil, next, fmt.Errorf("read $all: %w", err)
			}
			events = append(events, event)
			if limit > 0 && len(events) >= limit {
				break
			}
		}
		if maxScan > 0 && scanned >= maxScan {
			break
		}
	}
	return events, next, nil
}
