package keyring

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/integrationplatform/onboarding/eventstore"
)

// ErrExists is returned by Storage.Create when the project already has a
// wrapped data key or a destroyed one.
var ErrExists = errors.New("data key exists")

// Storage persists wrapped data keys, one per project.
//
// Implementations are safe for concurrent use.
type Storage interface {
	// Get returns the project's wrapped data key. It returns
	// eventstore.ErrKeyNotFound when there is none and
	// eventstore.ErrKeyDestroyed after Destroy.
	Get(ctx context.Context, projectID string) ([]byte, error)

	// Create stores the project's first wrapped data key durably. It returns
	// ErrExists when the project has a key, or had one that was destroyed.
	Create(ctx context.Context, projectID string, wrapped []byte) error

	// Destroy deletes the project's wrapped data key for good and remembers
	// that it was destroyed. Destroying a destroyed or missing key succeeds.
	Destroy(ctx context.Context, projectID string) error

	// Rewrap replaces every stored wrapped key w of project p with
	// rewrap(p, w), for master key rotation. It stops at the first error of
	// rewrap. Destroyed keys are skipped.
	Rewrap(ctx context.Context, rewrap func(projectID string, wrapped []byte) ([]byte, error)) (int, error)

	// Close releases the storage.
	Close() error
}

// Keyring implements eventstore.Keyring over a Storage with one master key,
// and keeps unwrapped data keys in memory.
type Keyring struct {
	master  *MasterKey
	storage Storage

	mu sync.Mutex // guards cache, destroyed and forgetCount
	// cache maps project ids to unwrapped data keys. Callers get copies, so
	// Forget can wipe these slices.
	cache map[string][]byte
	// forgetCount counts Forget calls. A key read from storage is cached only if
	// no Forget ran since the read started, so a DataKey that races with
	// DestroyKey cannot put the destroyed key back into the cache.
	forgetCount uint64
	// destroyed lists the projects whose keys this keyring destroyed. Every
	// read of an erasure event destroys the key, and the list spares those
	// reads a write to the key storage.
	destroyed map[string]bool
	// checked is set once CheckMasterKey succeeded. New data keys are made
	// only after that, so that a wrong master key cannot wrap any.
	checked atomic.Bool
}

var _ eventstore.Keyring = (*Keyring)(nil)

// New returns a keyring that wraps data keys with master and stores them in
// storage.
func New(master *MasterKey, storage Storage) *Keyring {
	return &Keyring{master: master, storage: storage, cache: make(map[string][]byte), destroyed: make(map[string]bool)}
}

// DataKey implements eventstore.Keyring.
func (k *Keyring) DataKey(ctx context.Context, projectID string, create bool) ([]byte, error) {
	// The copy is made under the lock, because Forget wipes cached keys.
	k.mu.Lock()
	key, ok := k.cache[projectID]
	if ok {
		key = bytes.Clone(key)
	}
	forgetCount := k.forgetCount
	k.mu.Unlock()
	if ok {
		return key, nil
	}

	wrapped, err := k.storage.Get(ctx, projectID)
	if errors.Is(err, eventstore.ErrKeyNotFound) && create {
		if !k.checked.Load() {
			if err := k.CheckMasterKey(ctx); err != nil {
				return nil, err
			}
		}
		return k.create(ctx, projectID, forgetCount)
	}
	if err != nil {
		return nil, err
	}
	key, err = k.master.Unwrap(projectID, wrapped)
	if err != nil {
		return nil, err
	}
	k.remember(projectID, bytes.Clone(key), forgetCount)
	return key, nil
}

// create makes a new data key, or returns the one that a concurrent caller
// (possibly in another process) stored first. forgetCount is the Forget
// count from before the storage read that found no key.
func (k *Keyring) create(ctx context.Context, projectID string, forgetCount uint64) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	wrapped, err := k.master.Wrap(projectID, key)
	if err != nil {
		return nil, err
	}
	err = k.storage.Create(ctx, projectID, wrapped)
	if errors.Is(err, ErrExists) {
		return k.DataKey(ctx, projectID, false)
	}
	if err != nil {
		return nil, fmt.Errorf("store data key of project %s: %w", projectID, err)
	}
	k.remember(projectID, bytes.Clone(key), forgetCount)
	return key, nil
}

// remember caches key unless Forget ran after the caller read forgetCount.
func (k *Keyring) remember(projectID string, key []byte, forgetCount uint64) {
	k.mu.Lock()
	if k.forgetCount == forgetCount {
		k.cache[projectID] = key
	}
	k.mu.Unlock()
}

// DestroyKey implements eventstore.Keyring.
func (k *Keyring) DestroyKey(ctx context.Context, projectID string) error {
	k.Forget(projectID)
	k.mu.Lock()
	done := k.destroyed[projectID]
	k.mu.Unlock()
	if done {
		return nil
	}

	if err := k.storage.Destroy(ctx, projectID); err != nil {
		return fmt.Errorf("destroy data key of project %s: %w", projectID, err)
	}
	k.Forget(projectID)
	k.mu.Lock()
	k.destroyed[projectID] = true
	k.mu.Unlock()
	return nil
}

// Forget implements eventstore.Keyring.
func (k *Keyring) Forget(projectID string) {
	k.mu.Lock()
	k.forgetCount++
	if key, ok := k.cache[projectID]; ok {
		clear(key)
		delete(k.cache, projectID)
	}
	k.mu.Unlock()
}

// MasterKeyID returns the id of the master key, which is safe to log.
func (k *Keyring) MasterKeyID() string { return k.master.ID() }

// Close closes the storage.
func (k *Keyring) Close() error { return k.storage.Close() }

// Rotate rewraps every data key in storage that old wrapped with next. Keys
// that next already wraps are left as they are, so an interrupted rotation
// can be run again. It returns how many keys it rewrapped.
//
// The master key check is replaced by a rotation marker first and by the
// new key last. CheckMasterKey fails on the marker, so no server starts
// while some data keys are wrapped by one key and some by the other.
func Rotate(ctx context.Context, storage Storage, old, next *MasterKey) (int, error) {
	// Pass 1: mark the rotation, unless it is marked or finished.
	_, err := storage.Rewrap(ctx, func(projectID string, wrapped []byte) ([]byte, error) {
		if projectID != checkID || next.WrappedBy(wrapped) {
			return wrapped, nil
		}
		if oldID, nextID, ok := parseRotationMarker(wrapped); ok {
			if oldID != old.ID() || nextID != next.ID() {
				return nil, fmt.Errorf("an unfinished rotation from master key %s to %s is in the key storage; run rotate-master-key with those keys", oldID, nextID)
			}
			return wrapped, nil
		}
		if !old.WrappedBy(wrapped) {
			return nil, fmt.Errorf("the data keys are wrapped by master key %s, not by the current master key %s; pass the key that wrapped them as the current key of the rotation", wrappedKeyID(wrapped), old.ID())
		}
		return rotationMarker(old, next), nil
	})
	if err != nil {
		return 0, err
	}

	// Pass 2: rewrap the data keys.
	n, err := storage.Rewrap(ctx, func(projectID string, wrapped []byte) ([]byte, error) {
		if projectID == checkID || next.WrappedBy(wrapped) {
			return wrapped, nil
		}
		key, err := old.Unwrap(projectID, wrapped)
		if err != nil {
			return nil, err
		}
		defer clear(key)
		return next.Wrap(projectID, key)
	})
	if err != nil {
		return n, err
	}

	// Pass 3: let the new key pass the check.
	_, err = storage.Rewrap(ctx, func(projectID string, wrapped []byte) ([]byte, error) {
		if _, _, ok := parseRotationMarker(wrapped); projectID != checkID || !ok {
			return wrapped, nil
		}
		return next.Wrap(checkID, make([]byte, KeySize))
	})
	return n, err
}

// checkID is the storage entry that records which master key wraps the
// data keys. Project ids are UUIDs, so it cannot clash with one.
const checkID = "master-key-check"

// RecordedMasterKeyID returns the id of the master key that the storage
// records as the one that wraps its data keys, or "" for a storage no
// keyring has used.
func RecordedMasterKeyID(ctx context.Context, storage Storage) (string, error) {
	wrapped, err := storage.Get(ctx, checkID)
	if errors.Is(err, eventstore.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if oldID, _, ok := parseRotationMarker(wrapped); ok {
		return oldID, nil
	}
	return wrappedKeyID(wrapped), nil
}

// CheckMasterKey checks that the keyring's master key is the one that
// wraps the data keys in its storage, so that a server started with
// another key fails at once instead of failing to open every sealed value.
// The first check on an empty storage records the master key.
func (k *Keyring) CheckMasterKey(ctx context.Context) error {
	err := k.checkMasterKey(ctx)
	if err == nil {
		k.checked.Store(true)
	}
	return err
}

func (k *Keyring) checkMasterKey(ctx context.Context) error {
	wrapped, err := k.storage.Get(ctx, checkID)
	if errors.Is(err, eventstore.ErrKeyNotFound) {
		if wrapped, err = k.master.Wrap(checkID, make([]byte, KeySize)); err != nil {
			return err
		}
		err = k.storage.Create(ctx, checkID, wrapped)
		if errors.Is(err, ErrExists) {
			return k.checkMasterKey(ctx)
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("read the master key check: %w", err)
	}
	if oldID, nextID, ok := parseRotationMarker(wrapped); ok {
		return fmt.Errorf("a rotation of the master key from %s to %s is unfinished, so some data keys may be wrapped by either key; run rotate-master-key again with the same keys", oldID, nextID)
	}
	if !k.master.WrappedBy(wrapped) {
		return fmt.Errorf("the data keys are wrapped by master key %s, not by the configured master key %s (%w)", wrappedKeyID(wrapped), k.master.ID(), eventstore.ErrWrongMasterKey)
	}
	if _, err := k.master.Unwrap(checkID, wrapped); err != nil {
		return fmt.Errorf("the configured master key %s does not open the master key check: %w", k.master.ID(), err)
	}
	return nil
}
