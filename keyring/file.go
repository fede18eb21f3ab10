package keyring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/integrationplatform/onboarding/eventstore"
)

// lockTimeout is how long OpenFile waits for another process to release
// the bbolt file lock.
const lockTimeout = time.Second

// compactSuffix ends the name of the temporary file that compaction writes
// next to the keyring file before renaming it over that file.
const compactSuffix = ".compact"

// bucketName is the bbolt bucket that maps project ids to wrapped data keys.
var bucketName = []byte("dataKeys")

// destroyedMarker is the value stored for a destroyed data key. No wrapped
// key equals it, because Create and Rewrap reject it as a value.
var destroyedMarker = []byte{0}

// ErrClosed is wrapped by the errors of File methods called after Close.
var ErrClosed = errors.New("keyring file is closed")

// File is a Storage kept in one bbolt file, with one entry per project that
// maps the project id to its wrapped data key. A destroyed key stays as a
// one-byte marker, so that it cannot be created again. Every write is a
// bbolt transaction that is committed and synced to disk (fdatasync on
// Linux) before the method returns.
//
// bbolt is copy-on-write, so a deleted or replaced value stays in the
// file's free pages until bbolt reuses them. Destroy therefore compacts the
// database after the delete: it copies the live entries into a new file,
// fsyncs it, renames it over the old file and fsyncs the directory. Rewrap
// compacts after it changed a value, so old wrappings do not remain, and
// OpenFile compacts once, for a process that stopped between a delete and
// its compaction. Compaction removes the old bytes from the file only. The
// filesystem or the disk below may still keep old blocks, through
// journaling, copy-on-write filesystems or SSD wear levelling. Only
// full-disk encryption, or destroying the master key that wrapped the data
// keys, covers those copies.
//
// A File is safe for concurrent use. Get and Create run concurrently.
// Destroy and Rewrap hold an exclusive lock for their whole run, including
// the compaction, so other calls wait for them.
type File struct {
	path string

	// mu guards db. Get and Create hold the read lock, and Destroy, Rewrap
	// and Close hold the write lock, because compaction replaces db. db is
	// nil after Close.
	mu sync.RWMutex
	db *bolt.DB
	// compactPending is set while freed pages may still hold a destroyed
	// key, because a compaction failed. OpenFile compacts, so it starts
	// false. Guarded by mu.
	compactPending bool
}

var _ Storage = (*File)(nil)

// OpenFile opens the keyring file at path, creating it with mode 0600 when
// it does not exist. The directory must exist. Only one process can have
// the file open at a time: OpenFile waits up to a second for the lock and
// then fails. OpenFile compacts the file before it returns.
func OpenFile(path string) (*File, error) {
	if path == "" {
		return nil, errors.New("open keyring file: path is empty")
	}
	db, err := openLocked(path)
	if err != nil {
		return nil, err
	}

	err = createBucket(db)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open keyring file %s: %w", path, err), db.Close())
	}

	f := &File{path: path, db: db}
	if err := f.compact(); err != nil {
		return nil, errors.Join(fmt.Errorf("open keyring file: %w", err), f.db.Close())
	}
	return f, nil
}

// openAttempts is how many times openLocked opens the file before it gives
// up on a file that is replaced while it waits for the lock.
const openAttempts = 3

// openLocked opens the bbolt file at path and makes sure that the file it
// locked is still the one at path. Another process that compacts renames a
// new file over path, and the old file that this process may have been
// waiting for is then unlinked. Using that file would lose every later
// write.
func openLocked(path string) (*bolt.DB, error) {
	for range openAttempts {
		var opened *os.File
		options := &bolt.Options{
			Timeout: lockTimeout,
			OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
				file, err := os.OpenFile(name, flag, perm)
				opened = file
				return file, err
			},
		}
		db, err := bolt.Open(path, 0o600, options)
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open keyring file %s: another process has held its lock for %s, "+
				"so another server may be running on the same data directory; "+
				"stop that server or use another data directory: %w", path, lockTimeout, err)
		}
		if err != nil {
			return nil, fmt.Errorf("open keyring file %s: %w", path, err)
		}

		same, err := isFileAt(opened, path)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("open keyring file %s: %w", path, err), db.Close())
		}
		if same {
			return db, nil
		}
		if err := db.Close(); err != nil {
			return nil, fmt.Errorf("open keyring file %s: close replaced file: %w", path, err)
		}
	}
	return nil, fmt.Errorf("open keyring file %s: another process replaced the file %d times while this one "+
		"waited for its lock, so another server is running on the same data directory; "+
		"stop that server or use another data directory", path, openAttempts)
}

// isFileAt reports whether file is the file that path names now.
func isFileAt(file *os.File, path string) (bool, error) {
	if file == nil {
		return false, errors.New("bbolt did not open the file through Options.OpenFile")
	}
	openInfo, err := file.Stat()
	if err != nil {
		return false, err
	}
	pathInfo, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(openInfo, pathInfo), nil
}

// createBucket creates the bucket unless it exists. It commits nothing when
// the bucket exists, which saves a write and an fsync on every open.
func createBucket(db *bolt.DB) error {
	exists := false
	err := db.View(func(tx *bolt.Tx) error {
		exists = tx.Bucket(bucketName) != nil
		return nil
	})
	if err != nil || exists {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
}

// Get implements Storage.
func (f *File) Get(ctx context.Context, projectID string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, f.closedError()
	}

	var wrapped []byte
	err := f.db.View(func(tx *bolt.Tx) error {
		value := tx.Bucket(bucketName).Get([]byte(projectID))
		switch {
		case value == nil:
			return fmt.Errorf("project %s: %w", projectID, eventstore.ErrKeyNotFound)
		case bytes.Equal(value, destroyedMarker):
			return fmt.Errorf("project %s: %w", projectID, eventstore.ErrKeyDestroyed)
		}
		// value points into bbolt's read-only memory map and is valid only
		// during the transaction.
		wrapped = bytes.Clone(value)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return wrapped, nil
}

// Create implements Storage.
func (f *File) Create(ctx context.Context, projectID string, wrapped []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if projectID == "" {
		return errors.New("create data key: project id is empty")
	}
	if err := checkWrapped(projectID, wrapped); err != nil {
		return fmt.Errorf("create data key: %w", err)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return f.closedError()
	}

	return f.db.Update(func(tx *bolt.Tx) error {
		bucket := tx.Bucket(bucketName)
		key := []byte(projectID)
		if bucket.Get(key) != nil {
			return fmt.Errorf("project %s: %w", projectID, ErrExists)
		}
		if err := bucket.Put(key, wrapped); err != nil {
			return fmt.Errorf("store data key of project %s in %s: %w", projectID, f.path, err)
		}
		return nil
	})
}

// Destroy implements Storage. It replaces the wrapped key by the destroyed
// marker and then compacts the file. For a key already destroyed it writes
// nothing, unless an earlier compaction failed, which it then retries.
func (f *File) Destroy(ctx context.Context, projectID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if projectID == "" {
		return errors.New("destroy data key: project id is empty")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db == nil {
		return f.closedError()
	}

	// A bbolt update commits and syncs even when it changes nothing, so
	// a destroyed key is looked up in a read transaction first.
	destroyed := false
	err := f.db.View(func(tx *bolt.Tx) error {
		destroyed = bytes.Equal(tx.Bucket(bucketName).Get([]byte(projectID)), destroyedMarker)
		return nil
	})
	if err == nil && !destroyed {
		err = f.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketName).Put([]byte(projectID), destroyedMarker)
		})
	}
	if err != nil {
		return fmt.Errorf("destroy data key of project %s in %s: %w", projectID, f.path, err)
	}
	if destroyed && !f.compactPending {
		return nil
	}
	f.compactPending = true
	if err := f.compact(); err != nil {
		return err
	}
	f.compactPending = false
	return nil
}

// Rewrap implements Storage. It replaces the values in one transaction, so
// an error of rewrap or of ctx leaves every value as it was. It returns how
// many values changed, and compacts the file when any did.
func (f *File) Rewrap(ctx context.Context, rewrap func(projectID string, wrapped []byte) ([]byte, error)) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db == nil {
		return 0, f.closedError()
	}

	type change struct {
		key, value []byte
	}
	var changes []change
	err := f.db.Update(func(tx *bolt.Tx) error {
		bucket := tx.Bucket(bucketName)

		// bbolt forbids changing a bucket inside ForEach, so the new values
		// are collected first and written after the loop.
		err := bucket.ForEach(func(key, value []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if bytes.Equal(value, destroyedMarker) {
				return nil
			}
			projectID := string(key)
			rewrapped, err := rewrap(projectID, bytes.Clone(value))
			if err != nil {
				return err
			}
			if err := checkWrapped(projectID, rewrapped); err != nil {
				return fmt.Errorf("rewrap: %w", err)
			}
			if !bytes.Equal(rewrapped, value) {
				changes = append(changes, change{key: bytes.Clone(key), value: rewrapped})
			}
			return nil
		})
		if err != nil {
			return err
		}

		for _, c := range changes {
			if err := bucket.Put(c.key, c.value); err != nil {
				return fmt.Errorf("store rewrapped data key of project %s in %s: %w", c.key, f.path, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}

	if len(changes) == 0 {
		return 0, nil
	}
	return len(changes), f.compact()
}

// Close implements Storage. Calls after the first return nil.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db == nil {
		return nil
	}
	err := f.db.Close()
	f.db = nil
	if err != nil {
		return fmt.Errorf("close keyring file %s: %w", f.path, err)
	}
	return nil
}

func (f *File) closedError() error {
	return fmt.Errorf("%w: %s", ErrClosed, f.path)
}

// checkWrapped rejects values that Get could not tell from a missing or
// destroyed key.
func checkWrapped(projectID string, wrapped []byte) error {
	if len(wrapped) == 0 || bytes.Equal(wrapped, destroyedMarker) {
		return fmt.Errorf("wrapped data key of project %s is invalid: it is empty or equals the destroyed marker %x", projectID, destroyedMarker)
	}
	return nil
}

// compact copies the live entries into a new file, renames it over f.path
// and makes it f.db. The caller holds f.mu for writing, or is OpenFile
// before it returns f.
//
// The new database stays open from its creation on, so its file is locked
// before the rename makes it visible at f.path. Closing it and opening
// f.path again would leave a moment in which another process could take
// the lock. As a consequence, f.db.Path() returns the temporary name.
//
// NOTE: Windows rejects renaming over a file that is open, so there compact
// fails and leaves the old file in place. Only Linux is tested.
func (f *File) compact() error {
	tmpPath := f.path + compactSuffix

	// A leftover from a process that stopped during compaction is removed
	// first, because bbolt would open it as an existing database.
	if err := os.Remove(tmpPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("compact keyring file %s: remove leftover: %w", f.path, err)
	}
	compacted, err := bolt.Open(tmpPath, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return fmt.Errorf("compact keyring file %s: %w", f.path, err)
	}

	err = bolt.Compact(compacted, f.db, 0)
	if err == nil {
		err = syncFile(tmpPath)
	}
	if err == nil {
		err = os.Rename(tmpPath, f.path)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("compact keyring file %s: %w", f.path, err), compacted.Close(), os.Remove(tmpPath))
	}

	// From here on f.path is the compacted file, so it replaces f.db even
	// if one of the last steps fails.
	old := f.db
	f.db = compacted
	var errs []error
	if err := syncDir(filepath.Dir(f.path)); err != nil {
		errs = append(errs, fmt.Errorf("compact keyring file %s: %w", f.path, err))
	}
	if err := old.Close(); err != nil {
		errs = append(errs, fmt.Errorf("compact keyring file %s: close replaced file: %w", f.path, err))
	}
	return errors.Join(errs...)
}

// syncFile fsyncs the file at path.
func syncFile(path string) error {
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = file.Sync()
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}
	return err
}

// syncDir fsyncs the directory at path, which makes a rename in it durable.
func syncDir(path string) error {
	dir, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open directory for fsync: %w", err)
	}
	err = dir.Sync()
	if closeErr := dir.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", path, err)
	}
	return nil
}
