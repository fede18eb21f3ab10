package eventstore

import (
	"context"
	"errors"
)

// ErrKeyDestroyed is returned for a project whose data key was destroyed to
// erase its personal data.
var ErrKeyDestroyed = errors.New("data key destroyed")

// ErrKeyNotFound is returned for a project that has no data key yet.
var ErrKeyNotFound = errors.New("data key not found")

// ErrWrongMasterKey is returned for a data key that another master key
// wrapped than the one configured, as during or after a master key rotation
// that a process did not follow.
var ErrWrongMasterKey = errors.New("data key wrapped by another master key")

// Keyring holds one data key per project, with which the codec seals the
// project's secrets and personal data before they are appended.
//
// Implementations are safe for concurrent use.
type Keyring interface {
	// DataKey returns the project's 32-byte data key. When the project has
	// none, DataKey creates one if create is true and returns ErrKeyNotFound
	// otherwise. It returns ErrKeyDestroyed after DestroyKey, even when
	// create is true.
	DataKey(ctx context.Context, projectID string, create bool) ([]byte, error)

	// DestroyKey deletes the project's data key for good, so that nothing
	// sealed with it can be opened again. Destroying a destroyed or missing
	// key succeeds.
	DestroyKey(ctx context.Context, projectID string) error

	// Forget drops any copy of the project's data key held in memory. The
	// codec calls it when it decodes an erasure written by another process.
	Forget(projectID string)
}

// IsTransient reports whether err may pass if the operation is retried.
// That is so when the store or the key storage could not be reached, when
// a deadline passed, and when a data key is wrapped by another master key,
// which a restart with the right key fixes. Readers wait on these instead
// of skipping an event.
func IsTransient(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrWrongMasterKey)
}
