package esdb

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	kurrent "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/esdb/esdbtest"
	"github.com/integrationplatform/onboarding/keyring"
)

func TestKeyStorageInProcessServer(t *testing.T) {
	runKeyStorageTests(t, func(t *testing.T) *KeyStorage {
		return openStore(t, esdbtest.Start(t).ConnectionString()).KeyStorage()
	})
}

func TestKeyStorageRealServer(t *testing.T) {
	url := os.Getenv(RealServerEnv)
	if url == "" {
		t.Skipf("real-server run skipped: set %s to a connection string such as esdb://127.0.0.1:2113?tls=false", RealServerEnv)
	}
	runKeyStorageTests(t, func(t *testing.T) *KeyStorage {
		// Rewrap scans every stream with the prefix, so each test gets its
		// own prefix on the shared server.
		storage := openStore(t, url).KeyStorage()
		storage.prefix = DataKeyStreamPrefix + "test-" + uuid.NewString()[:8] + "-"
		return storage
	})
}

// runKeyStorageTests runs the key storage tests as subtests of t, each on
// its own storage from newStorage.
func runKeyStorageTests(t *testing.T, newStorage func(t *testing.T) *KeyStorage) {
	tests := []struct {
		name string
		run  func(t *testing.T, storage *KeyStorage)
	}{
		{"GetMissing", testKeyGetMissing},
		{"CreateThenGet", testKeyCreateThenGet},
		{"CreateTwice", testKeyCreateTwice},
		{"Destroy", testKeyDestroy},
		{"DestroyNeverCreated", testKeyDestroyNeverCreated},
		{"Rewrap", testKeyRewrap},
		{"RewrapConflict", testKeyRewrapConflict},
		{"KeyringEndToEnd", testKeyringEndToEnd},
		{"KeyringRotate", testKeyringRotate},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			test.run(t, newStorage(t))
		})
	}
}

func keyContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newMasterKey(t *testing.T) *keyring.MasterKey {
	t.Helper()
	master, err := keyring.NewMasterKey(randomBytes(t, keyring.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return master
}

func mustCreateKey(ctx context.Context, t *testing.T, storage *KeyStorage, projectID string, wrapped []byte) {
	t.Helper()
	if err := storage.Create(ctx, projectID, wrapped); err != nil {
		t.Fatalf("Create(%s) failed: %v", projectID, err)
	}
}

func mustGetKey(ctx context.Context, t *testing.T, storage *KeyStorage, projectID string) []byte {
	t.Helper()
	wrapped, err := storage.Get(ctx, projectID)
	if err != nil {
		t.Fatalf("Get(%s) failed: %v", projectID, err)
	}
	return wrapped
}

func testKeyGetMissing(t *testing.T, storage *KeyStorage) {
	_, err := storage.Get(keyContext(t), "missing")
	if !errors.Is(err, eventstore.ErrKeyNotFound) {
		t.Errorf("Get of a missing key returned %v, expected ErrKeyNotFound", err)
	}
}

func testKeyCreateThenGet(t *testing.T, storage *KeyStorage) {
	ctx := keyContext(t)
	wrapped := randomBytes(t, 61)
	mustCreateKey(ctx, t, storage, "p1", wrapped)

	if got := mustGetKey(ctx, t, storage, "p1"); !bytes.Equal(got, wrapped) {
		t.Errorf("Get returned %x, expected %x", got, wrapped)
	}

	client, err := storage.store.currentClient()
	if err != nil {
		t.Fatal(err)
	}
	metadata, err := client.GetStreamMetadata(ctx, storage.stream("p1"), kurrent.ReadStreamOptions{Direction: kurrent.Backwards, From: kurrent.End{}})
	if err != nil {
		t.Fatalf("read stream metadata: %v", err)
	}
	if maxCount := metadata.MaxCount(); maxCount == nil || *maxCount != 1 {
		t.Errorf("stream metadata $maxCount is %v, expected 1", maxCount)
	}
}

func testKeyCreateTwice(t *testing.T, storage *KeyStorage) {
	ctx := keyContext(t)
	first := randomBytes(t, 61)
	mustCreateKey(ctx, t, storage, "p1", first)

	err := storage.Create(ctx, "p1", randomBytes(t, 61))
	if !errors.Is(err, keyring.ErrExists) {
		t.Errorf("second Create returned %v, expected ErrExists", err)
	}
	if got := mustGetKey(ctx, t, storage, "p1"); !bytes.Equal(got, first) {
		t.Errorf("Get after the second Create returned %x, expected the first key %x", got, first)
	}
}

func testKeyDestroy(t *testing.T, storage *KeyStorage) {
	ctx := keyContext(t)
	mustCreateKey(ctx, t, storage, "p1", randomBytes(t, 61))
	mustCreateKey(ctx, t, storage, "p2", randomBytes(t, 61))

	if err := storage.Destroy(ctx, "p1"); err != nil {
		t.Fatalf("Destroy failed: %v", err)
	}
	if _, err := storage.Get(ctx, "p1"); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Errorf("Get after Destroy returned %v, expected ErrKeyDestroyed", err)
	}
	if err := storage.Create(ctx, "p1", randomBytes(t, 61)); !errors.Is(err, keyring.ErrExists) {
		t.Errorf("Create after Destroy returned %v, expected ErrExists", err)
	}
	if err := storage.Destroy(ctx, "p1"); err != nil {
		t.Errorf("second Destroy returned %v, expected success", err)
	}
	if _, err := storage.Get(ctx, "p2"); err != nil {
		t.Errorf("Get of another project's key after Destroy failed: %v", err)
	}
}

func testKeyDestroyNeverCreated(t *testing.T, storage *KeyStorage) {
	ctx := keyContext(t)
	if err := storage.Destroy(ctx, "p1"); err != nil {
		t.Fatalf("Destroy of a missing key failed: %v", err)
	}
	if _, err := storage.Get(ctx, "p1"); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Errorf("Get after Destroy of a missing key returned %v, expected ErrKeyDestroyed", err)
	}
	if err := storage.Create(ctx, "p1", randomBytes(t, 61)); !errors.Is(err, keyring.ErrExists) {
		t.Errorf("Create after Destroy of a missing key returned %v, expected ErrExists", err)
	}
}

func testKeyRewrap(t *testing.T, storage *KeyStorage) {
	ctx := keyContext(t)
	original := map[string][]byte{"p1": randomBytes(t, 61), "p2": randomBytes(t, 61), "p3": randomBytes(t, 61)}
	for projectID, wrapped := range original {
		mustCreateKey(ctx, t, storage, projectID, wrapped)
	}
	if err := storage.Destroy(ctx, "p3"); err != nil {
		t.Fatal(err)
	}

	seen := make(map[string]bool)
	changed, err := storage.Rewrap(ctx, func(projectID string, wrapped []byte) ([]byte, error) {
		seen[projectID] = true
		if !bytes.Equal(wrapped, original[projectID]) {
			t.Errorf("rewrap of %s got %x, expected %x", projectID, wrapped, original[projectID])
		}
		return append([]byte("rewrapped-"), wrapped...), nil
	})
	if err != nil {
		t.Fatalf("Rewrap failed: %v", err)
	}
	if changed != 2 {
		t.Errorf("Rewrap changed %d keys, expected 2", changed)
	}
	if !seen["p1"] || !seen["p2"] || len(seen) != 2 {
		t.Errorf("Rewrap called rewrap for %v, expected p1 and p2 only", seen)
	}
	for _, projectID := range []string{"p1", "p2"} {
		expected := append([]byte("rewrapped-"), original[projectID]...)
		if got := mustGetKey(ctx, t, storage, projectID); !bytes.Equal(got, expected) {
			t.Errorf("Get(%s) after Rewrap returned %x, expected %x", projectID, got, expected)
		}
	}
	if _, err := storage.Get(ctx, "p3"); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Errorf("Get of the destroyed key after Rewrap returned %v, expected ErrKeyDestroyed", err)
	}

	changed, err = storage.Rewrap(ctx, func(_ string, wrapped []byte) ([]byte, error) { return wrapped, nil })
	if err != nil {
		t.Fatalf("Rewrap with an identity function failed: %v", err)
	}
	if changed != 0 {
		t.Errorf("Rewrap with an identity function changed %d keys, expected 0", changed)
	}
}

// A key that changes between Rewrap's read and its append makes Rewrap
// fail, and the concurrent change stays.
func testKeyRewrapConflict(t *testing.T, storage *KeyStorage) {
	ctx := keyContext(t)
	mustCreateKey(ctx, t, storage, "p1", randomBytes(t, 61))
	concurrent := randomBytes(t, 61)

	_, err := storage.Rewrap(ctx, func(projectID string, wrapped []byte) ([]byte, error) {
		client, err := storage.store.currentClient()
		if err != nil {
			return nil, err
		}
		event, err := dataKeyEventData(dataKeyRewrappedType, concurrent)
		if err != nil {
			return nil, err
		}
		if _, err := client.AppendToStream(ctx, storage.stream(projectID), kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.Any{}}, event); err != nil {
			return nil, err
		}
		return append([]byte("rewrapped-"), wrapped...), nil
	})
	if err == nil {
		t.Fatal("Rewrap succeeded although the key changed after its read")
	}
	if got := mustGetKey(ctx, t, storage, "p1"); !bytes.Equal(got, concurrent) {
		t.Errorf("Get after the conflict returned %x, expected the concurrent key %x", got, concurrent)
	}
}

func testKeyringEndToEnd(t *testing.T, storage *KeyStorage) {
	ctx := keyContext(t)
	master := newMasterKey(t)
	first := keyring.New(master, storage)
	key, err := first.DataKey(ctx, "p1", true)
	if err != nil {
		t.Fatalf("DataKey with create failed: %v", err)
	}

	second := keyring.New(master, storage)
	got, err := second.DataKey(ctx, "p1", false)
	if err != nil {
		t.Fatalf("DataKey from a second keyring failed: %v", err)
	}
	if !bytes.Equal(got, key) {
		t.Errorf("second keyring returned another data key")
	}

	if err := first.DestroyKey(ctx, "p1"); err != nil {
		t.Fatalf("DestroyKey failed: %v", err)
	}
	if _, err := first.DataKey(ctx, "p1", true); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Errorf("DataKey with create after DestroyKey returned %v, expected ErrKeyDestroyed", err)
	}
	second.Forget("p1")
	if _, err := second.DataKey(ctx, "p1", false); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Errorf("DataKey from the second keyring after DestroyKey returned %v, expected ErrKeyDestroyed", err)
	}
}

func testKeyringRotate(t *testing.T, storage *KeyStorage) {
	ctx := keyContext(t)
	old, next := newMasterKey(t), newMasterKey(t)
	ring := keyring.New(old, storage)
	keys := make(map[string][]byte)
	for _, projectID := range []string{"p1", "p2", "p3"} {
		key, err := ring.DataKey(ctx, projectID, true)
		if err != nil {
			t.Fatal(err)
		}
		keys[projectID] = key
	}
	if err := ring.DestroyKey(ctx, "p3"); err != nil {
		t.Fatal(err)
	}

	rotated, err := keyring.Rotate(ctx, storage, old, next)
	if err != nil {
		t.Fatalf("Rotate failed: %v", err)
	}
	if rotated != 2 {
		t.Errorf("Rotate rewrapped %d keys, expected 2", rotated)
	}
	rotated, err = keyring.Rotate(ctx, storage, old, next)
	if err != nil {
		t.Fatalf("second Rotate failed: %v", err)
	}
	if rotated != 0 {
		t.Errorf("second Rotate rewrapped %d keys, expected 0", rotated)
	}

	rotatedRing := keyring.New(next, storage)
	for _, projectID := range []string{"p1", "p2"} {
		key, err := rotatedRing.DataKey(ctx, projectID, false)
		if err != nil {
			t.Fatalf("DataKey(%s) with the new master key failed: %v", projectID, err)
		}
		if !bytes.Equal(key, keys[projectID]) {
			t.Errorf("DataKey(%s) with the new master key returned another data key", projectID)
		}
	}
	if _, err := keyring.New(old, storage).DataKey(ctx, "p1", false); err == nil {
		t.Error("DataKey with the old master key succeeded after Rotate")
	}
	if _, err := rotatedRing.DataKey(ctx, "p3", false); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Errorf("DataKey of the destroyed key after Rotate returned %v, expected ErrKeyDestroyed", err)
	}
}

// The data key streams and their metadata streams stay out of the $all
// reads that filter by the project stream prefix.
func TestKeyStreamsOutsideProjectPrefix(t *testing.T) {
	store := openStore(t, esdbtest.Start(t).ConnectionString())
	storage := store.KeyStorage()
	ctx := keyContext(t)
	mustCreateKey(ctx, t, storage, "p1", randomBytes(t, 61))
	mustCreateKey(ctx, t, storage, "p2", randomBytes(t, 61))
	if err := storage.Destroy(ctx, "p2"); err != nil {
		t.Fatal(err)
	}

	events, err := store.ReadAll(ctx, eventstore.Start, 0, eventstore.Filter{StreamPrefix: eventstore.StreamPrefix})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		t.Errorf("$all read with prefix %q returned event %s of stream %s", eventstore.StreamPrefix, e.Type, e.StreamID)
	}
}

// Every KeyStorage method returns ErrUnavailable while the server is down.
func TestKeyStorageServerDown(t *testing.T) {
	server := esdbtest.Start(t)
	storage := openStore(t, server.ConnectionString()).KeyStorage()
	mustCreateKey(keyContext(t), t, storage, "p1", randomBytes(t, 61))
	server.Stop()

	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := storage.Get(ctx, "p1"); return err }},
		{"Create", func(ctx context.Context) error { return storage.Create(ctx, "p2", randomBytes(t, 61)) }},
		{"Destroy", func(ctx context.Context) error { return storage.Destroy(ctx, "p1") }},
		{"Rewrap", func(ctx context.Context) error {
			_, err := storage.Rewrap(ctx, func(_ string, wrapped []byte) ([]byte, error) { return wrapped, nil })
			return err
		}},
	}
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := c.call(ctx)
		cancel()
		if !errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("%s while the server is stopped returned %v, expected ErrUnavailable", c.name, err)
		}
	}
}
