// Package embedded implements eventstore.Store in a single bbolt file, for
// running without an EventStoreDB server.
//
// One writer goroutine commits appends. Appends that arrive while a commit
// is running are committed together in the next bbolt transaction, so many
// concurrent appenders share one fsync (group commit). Positions in $all are
// a sequence number that starts at 1, used as both Commit and Prepare.
package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/integrationplatform/onboarding/eventstore"
)

// FileName is the name of the bbolt file that Open creates in the data
// directory.
const FileName = "events.db"

// DefaultLockTimeout is the LockTimeout that Open uses when Options leaves
// it zero.
const DefaultLockTimeout = time.Second

// Options configures Open. The zero Options is ready to use.
type Options struct {
	// LockTimeout is how long Open waits for another process, or another
	// open Store in this process, to release the lock on the data file. Zero
	// means DefaultLockTimeout, and a negative value makes Open fail at once.
	LockTimeout time.Duration
}

// ErrInUse is wrapped by the error that Open returns when the data file is
// locked by another process or by another open Store in this process.
var ErrInUse = errors.New("data directory is in use")

// Store is an eventstore.Store kept in one bbolt file. Open creates it.
type Store struct {
	db *bolt.DB

	// closeMu guards closed and the send side of requests: Append queues a
	// request while it holds the read lock, and Close closes requests while
	// it holds the write lock, so no request is sent after that.
	closeMu  sync.RWMutex
	closed   bool
	requests chan *appendRequest

	// done is closed when Close starts, to end waiting subscriptions.
	done chan struct{}
	// writerDone is closed when the writer goroutine has handled every
	// queued request and returned.
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	// lastSeq is the sequence number of the last committed event. Only the
	// writer goroutine uses it after Open.
	lastSeq uint64

	// commitSignal is closed and replaced after each commit that wrote
	// events, to wake subscriptions waiting at the head of $all.
	signalMu     sync.Mutex
	commitSignal chan struct{}

	commits atomic.Uint64
	appends atomic.Uint64
	events  atomic.Uint64
}

var _ eventstore.Store = (*Store)(nil)

// Open opens the store in dir, creating dir and its FileName file when they
// do not exist. Only one Store can have a directory open at a time: Open
// waits up to opts.LockTimeout for the file lock and then returns an error
// that wraps ErrInUse.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open event store: data directory path is empty")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open event store: create data directory: %w", err)
	}

	path := filepath.Join(dir, FileName)
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, &inUseError{dir: dir, path: path, timeout: timeout}
	}
	if err != nil {
		return nil, fmt.Errorf("open event store %s: %w", path, err)
	}

	var lastSeq uint64
	err = db.Update(func(tx *bolt.Tx) error {
		var err error
		lastSeq, err = createBuckets(tx)
		return err
	})
	if err != nil {
		closeErr := db.Close()
		return nil, errors.Join(fmt.Errorf("open event store %s: %w", path, err), closeErr)
	}

	s := &Store{
		db:           db,
		requests:     make(chan *appendRequest, requestQueueLength),
		done:         make(chan struct{}),
		writerDone:   make(chan struct{}),
		lastSeq:      lastSeq,
		commitSignal: make(chan struct{}),
	}
	go s.runWriter()
	return s, nil
}

// inUseError reports that another holder has the data file locked.
type inUseError struct {
	dir     string
	path    string
	timeout time.Duration
}

func (e *inUseError) Error() string {
	return fmt.Sprintf("data directory %s is in use by another process "+
		"(bbolt file lock on %s still held after %s); stop that process or use another data directory",
		e.dir, e.path, max(e.timeout, 0))
}

func (e *inUseError) Unwrap() error { return ErrInUse }

// Close stops accepting appends, waits until the appends already queued are
// committed or have failed, ends every subscription with
// eventstore.ErrClosed and closes the file. Calls after the first wait for
// it to finish and return nil.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true

		s.closeMu.Lock()
		s.closed = true
		close(s.requests)
		close(s.done)
		s.closeMu.Unlock()

		<-s.writerDone
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close event store %s: %w", s.db.Path(), err)
		}
	})
	if !first {
		return nil
	}
	return s.closeErr
}

// isClosed reports whether Close has started.
func (s *Store) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Stats counts the work of a Store's writer since Open.
type Stats struct {
	// Commits is the number of bbolt transactions committed for appends,
	// each ending with an fsync.
	Commits uint64
	// Appends is the number of Append calls that wrote events. Retries that
	// found their events already stored are not counted.
	Appends uint64
	// Events is the number of events written.
	Events uint64
}

// Stats returns the writer's counters. Appends greater than Commits shows
// that group commit shared transactions between appends.
func (s *Store) Stats() Stats {
	return Stats{
		Commits: s.commits.Load(),
		Appends: s.appends.Load(),
		Events:  s.events.Load(),
	}
}

// currentCommitSignal returns the channel that the next commit that writes
// events closes. Read the store only after taking it, so that a commit
// between the read and the wait still wakes the waiter.
func (s *Store) currentCommitSignal() <-chan struct{} {
	s.signalMu.Lock()
	defer s.signalMu.Unlock()
	return s.commitSignal
}

func (s *Store) broadcastCommit() {
	s.signalMu.Lock()
	defer s.signalMu.Unlock()
	close(s.commitSignal)
	s.commitSignal = make(chan struct{})
}

// view runs fn in a read transaction and reports a database closed under it
// as eventstore.ErrClosed.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	if s.isClosed() {
		return eventstore.ErrClosed
	}
	err := s.db.View(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return eventstore.ErrClosed
	}
	return err
}
