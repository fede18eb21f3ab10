package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/integrationplatform/onboarding/eventstore"
)

const (
	// requestQueueLength is how many appends can wait for the writer before
	// Append blocks.
	requestQueueLength = 1024
	// maxBatchRequests and maxBatchBytes cap one commit. The writer stops
	// adding requests at either cap; a single larger request is committed
	// alone.
	maxBatchRequests = 512
	maxBatchBytes    = 64 << 20
)

// appendRequest is an Append waiting for the writer. Append encodes the
// records before it queues the request, so the writer reads no memory that
// the caller still owns.
type appendRequest struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedRevision
	ids      []string
	records  [][]byte
	size     int
	// reply has a buffer of one and gets exactly one reply, so the writer
	// does not block when Append has stopped waiting.
	reply chan appendReply
}

type appendReply struct {
	result eventstore.AppendResult
	err    error
}

// Append implements eventstore.Store. It returns after the commit that
// contains the events has been fsynced.
//
// Event ids are unique in the whole store: an id stored in another stream
// makes the append fail. When ctx ends while the append waits for the
// writer, Append returns ctx.Err(), but the events may still be committed.
// A retry with the same event ids then returns the stored result.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if s.isClosed() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	if err := validateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}

	req := newAppendRequest(ctx, stream, expected, events)
	if err := s.enqueue(ctx, req); err != nil {
		return eventstore.AppendResult{}, err
	}
	select {
	case reply := <-req.reply:
		return reply.result, reply.err
	case <-ctx.Done():
		return eventstore.AppendResult{}, ctx.Err()
	}
}

func newAppendRequest(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) *appendRequest {
	req := &appendRequest{
		ctx:      ctx,
		stream:   stream,
		expected: expected,
		ids:      make([]string, len(events)),
		records:  make([][]byte, len(events)),
		reply:    make(chan appendReply, 1),
	}
	for i, event := range events {
		req.ids[i] = event.ID
		req.records[i] = encodeRecord(stream, event, uint64(len(events)-1-i))
		req.size += len(req.records[i])
	}
	return req
}

func (s *Store) enqueue(ctx context.Context, req *appendRequest) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	select {
	case s.requests <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func validateAppend(stream string, events []eventstore.EventData) error {
	if stream == "" {
		return errors.New("append: stream name is empty")
	}
	if len(stream) > maxKeyFieldLength {
		return fmt.Errorf("append to stream %.64q...: stream name is %d bytes long, the maximum is %d",
			stream, len(stream), maxKeyFieldLength)
	}
	if len(events) == 0 {
		return fmt.Errorf("append to stream %q: no events given", stream)
	}

	seen := make(map[string]int, len(events))
	for i, event := range events {
		if event.ID == "" {
			return fmt.Errorf("append to stream %q: event %d has an empty id", stream, i)
		}
		if len(event.ID) > maxKeyFieldLength {
			return fmt.Errorf("append to stream %q: event %d has an id of %d bytes, the maximum is %d",
				stream, i, len(event.ID), maxKeyFieldLength)
		}
		if event.Type == "" {
			return fmt.Errorf("append to stream %q: event %d (id %s) has an empty type", stream, i, event.ID)
		}
		if first, ok := seen[event.ID]; ok {
			return fmt.Errorf("append to stream %q: events %d and %d have the same id %s; give each event its own id",
				stream, first, i, event.ID)
		}
		seen[event.ID] = i
	}
	return nil
}

// runWriter commits queued appends until Close closes the queue and the
// queue is empty. Each pass takes every request already queued, up to the
// batch caps, and commits them in one transaction.
func (s *Store) runWriter() {
	defer close(s.writerDone)
	for {
		first, ok := <-s.requests
		if !ok {
			return
		}
		batch := []*appendRequest{first}
		size := first.size

	collect:
		for len(batch) < maxBatchRequests && size < maxBatchBytes {
			select {
			case req, ok := <-s.requests:
				if !ok {
					break collect
				}
				batch = append(batch, req)
				size += req.size
			default:
				break collect
			}
		}

		s.commitBatch(batch)
	}
}

// commitBatch commits batch in one transaction and replies to each request.
// A request that fails its checks fails alone. When the transaction itself
// fails, each request is tried again in a transaction of its own, so that
// a request the storage rejects cannot fail the others.
func (s *Store) commitBatch(batch []*appendRequest) {
	live := make([]*appendRequest, 0, len(batch))
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.reply <- appendReply{err: err}
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}

	replies, err := s.writeBatch(live)
	switch {
	case err == nil:
		for i, req := range live {
			req.reply <- replies[i]
		}
	case len(live) == 1:
		live[0].reply <- appendReply{err: fmt.Errorf("append to stream %q: %w", live[0].stream, err)}
	default:
		for _, req := range live {
			s.commitBatch([]*appendRequest{req})
		}
	}
}

// writeBatch applies batch in one write transaction and commits it when
// any request wrote events. The error is a storage failure, after which
// nothing of the batch is stored. Failures of single requests are in the
// replies.
func (s *Store) writeBatch(batch []*appendRequest) ([]appendReply, error) {
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			// bbolt's Rollback fails only with ErrTxClosed, after a failed
			// Commit has already rolled the transaction back.
			_ = tx.Rollback()
		}
	}()

	w := newBatchWriter(tx, s.lastSeq+1, time.Now().UTC())
	replies := make([]appendReply, len(batch))
	var appends uint64
	for i, req := range batch {
		reply, wrote, err := w.apply(req)
		if err != nil {
			return nil, err
		}
		replies[i] = reply
		if wrote {
			appends++
		}
	}
	if appends == 0 {
		return replies, nil
	}

	if err := tx.Commit(); err != nil {
		return nil, err
	}
	committed = true

	written := w.nextSeq - 1 - s.lastSeq
	s.lastSeq = w.nextSeq - 1
	s.commits.Add(1)
	s.appends.Add(appends)
	s.events.Add(written)
	s.broadcastCommit()
	return replies, nil
}

// batchWriter applies the requests of one batch to a write transaction.
// Each request is checked against a state that includes the writes of the
// requests before it.
type batchWriter struct {
	events  *bolt.Bucket
	streams *bolt.Bucket
	heads   *bolt.Bucket
	ids     *bolt.Bucket
	// nextSeq is the sequence number of the next event written.
	nextSeq    uint64
	recordedAt time.Time
}

func newBatchWriter(tx *bolt.Tx, nextSeq uint64, recordedAt time.Time) *batchWriter {
	w := &batchWriter{
		events:     tx.Bucket(eventsBucket),
		streams:    tx.Bucket(streamsBucket),
		heads:      tx.Bucket(headsBucket),
		ids:        tx.Bucket(idsBucket),
		nextSeq:    nextSeq,
		recordedAt: recordedAt,
	}
	// Sequence numbers only grow, so full pages suit the events bucket.
	w.events.FillPercent = 1
	return w
}

// apply checks req and writes its events. It reports whether it wrote
// any. The error is a storage failure; a request that fails its checks gets
// its error in the reply and writes nothing.
func (w *batchWriter) apply(req *appendRequest) (appendReply, bool, error) {
	// Ids come before the expected revision, so that a retry of an append
	// that was committed gets its result even though the stream has moved.
	result, stored, err := w.findStoredAppend(req)
	if err != nil {
		return appendReply{err: err}, false, nil
	}
	if stored {
		return appendReply{result: result}, false, nil
	}

	head := w.heads.Get([]byte(req.stream))
	exists := head != nil
	var current uint64
	if exists {
		current = binary.BigEndian.Uint64(head)
	}
	if !req.expected.Accepts(current, exists) {
		return appendReply{err: &eventstore.ConflictError{
			Stream:   req.stream,
			Expected: req.expected,
			Current:  current,
			Exists:   exists,
		}}, false, nil
	}

	revision := uint64(0)
	if exists {
		revision = current + 1
	}
	for i, record := range req.records {
		seq := seqKey(w.nextSeq)
		setRecordPosition(record, revision, w.recordedAt)
		if err := w.events.Put(seq, record); err != nil {
			return appendReply{}, false, err
		}
		if err := w.streams.Put(streamKey(req.stream, revision), seq); err != nil {
			return appendReply{}, false, err
		}
		if err := w.ids.Put([]byte(req.ids[i]), seq); err != nil {
			return appendReply{}, false, err
		}
		w.nextSeq++
		revision++
	}

	last := revision - 1
	if err := w.heads.Put([]byte(req.stream), binary.BigEndian.AppendUint64(nil, last)); err != nil {
		return appendReply{}, false, err
	}
	lastSeq := w.nextSeq - 1
	return appendReply{result: eventstore.AppendResult{
		Revision: last,
		Position: eventstore.Position{Commit: lastSeq, Prepare: lastSeq},
	}}, true, nil
}

// findStoredAppend looks up the event ids of req. When all of them are
// stored in req.stream, it returns the result of the append that stored
// them, or of the latest such append when they came from several.
func (w *batchWriter) findStoredAppend(req *appendRequest) (eventstore.AppendResult, bool, error) {
	var result eventstore.AppendResult
	var storedID, newID string
	found := 0
	for _, id := range req.ids {
		value := w.ids.Get([]byte(id))
		if value == nil {
			newID = id
			continue
		}
		found++
		storedID = id

		seq := binary.BigEndian.Uint64(value)
		record := w.events.Get(value)
		if record == nil {
			return result, false, fmt.Errorf("append to stream %q: the id index maps event id %s to event %d, which is missing; the data file is damaged",
				req.stream, id, seq)
		}
		header, err := decodeRecordHeader(record)
		if err != nil {
			return result, false, fmt.Errorf("append to stream %q: read stored event %d with id %s: %w", req.stream, seq, id, err)
		}
		if string(header.stream) != req.stream {
			return result, false, fmt.Errorf("append to stream %q: event id %s is already stored in stream %q; give each event a new id",
				req.stream, id, header.stream)
		}

		lastSeq := seq + header.later
		last := eventstore.AppendResult{
			Revision: header.revision + header.later,
			Position: eventstore.Position{Commit: lastSeq, Prepare: lastSeq},
		}
		if found == 1 || result.Position.Less(last.Position) {
			result = last
		}
	}

	switch found {
	case 0:
		return eventstore.AppendResult{}, false, nil
	case len(req.ids):
		return result, true, nil
	default:
		return eventstore.AppendResult{}, false, fmt.Errorf(
			"append to stream %q: %d of the %d event ids are already stored (for example %s) and the others are new (for example %s); "+
				"retry an append with exactly its original events, and give new events new ids",
			req.stream, found, len(req.ids), storedID, newID)
	}
}
