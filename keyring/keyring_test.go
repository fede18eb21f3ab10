package keyring

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/integrationplatform/onboarding/eventstore"
)

// testMaterial is fixed master key material, so that ParseMasterKey cases
// can compare ids.
var testMaterial = bytes.Repeat([]byte{0xa5, 0x3c}, KeySize/2)

func newMasterKey(t *testing.T) *MasterKey {
	t.Helper()
	m, err := GenerateMasterKeyFile(filepath.Join(t.TempDir(), "master.key"))
	if err != nil {
		t.Fatalf("GenerateMasterKeyFile: %v", err)
	}
	return m
}

// openTestFile opens a keyring file at path and closes it when the test
// ends. Closing twice is allowed, so tests may close it earlier.
func openTestFile(t *testing.T, path string) *File {
	t.Helper()
	f, err := OpenFile(path)
	if err != nil {
		t.Fatalf("OpenFile(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close(%s): %v", path, err)
		}
	})
	return f
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return content
}

func getWrapped(t *testing.T, storage Storage, projectID string) []byte {
	t.Helper()
	wrapped, err := storage.Get(t.Context(), projectID)
	if err != nil {
		t.Fatalf("Get(%s): %v", projectID, err)
	}
	return wrapped
}

func TestParseMasterKey(t *testing.T) {
	want, err := NewMasterKey(testMaterial)
	if err != nil {
		t.Fatalf("NewMasterKey: %v", err)
	}
	padded := base64.StdEncoding.EncodeToString(testMaterial)
	if !strings.HasSuffix(padded, "=") {
		t.Fatalf("base64 of %d bytes %q has no padding, so the padded case tests nothing", KeySize, padded)
	}

	valid := []struct {
		name string
		text string
	}{
		{"base64 with padding", padded},
		{"base64 without padding", base64.RawStdEncoding.EncodeToString(testMaterial)},
		{"hex lower case", hex.EncodeToString(testMaterial)},
		{"hex upper case", strings.ToUpper(hex.EncodeToString(testMaterial))},
		{"surrounding white space", " \t" + padded + "\n"},
		{"trailing newline on hex", hex.EncodeToString(testMaterial) + "\n"},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMasterKey(tc.text)
			if err != nil {
				t.Fatalf("ParseMasterKey(%q): %v", tc.text, err)
			}
			if m.ID() != want.ID() {
				t.Errorf("ParseMasterKey(%q).ID() = %s, want %s", tc.text, m.ID(), want.ID())
			}
		})
	}

	invalid := []struct {
		name string
		text string
	}{
		{"empty", ""},
		{"only white space", " \n\t"},
		{"base64 of 16 bytes", base64.StdEncoding.EncodeToString(testMaterial[:16])},
		{"base64 of 33 bytes", base64.StdEncoding.EncodeToString(append(bytes.Clone(testMaterial), 1))},
		{"hex of 31 bytes", hex.EncodeToString(testMaterial[:31])},
		{"garbage", "not a key!"},
		{"base64 with inner space", padded[:10] + " " + padded[10:]},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMasterKey(tc.text)
			if err == nil {
				t.Fatalf("ParseMasterKey(%q) = key %s, want an error", tc.text, m.ID())
			}
			if !strings.Contains(err.Error(), "openssl rand -base64 32") {
				t.Errorf("ParseMasterKey(%q) error %q does not name the command that generates a key", tc.text, err)
			}
		})
	}
}

func TestLoadMasterKeyFileMode(t *testing.T) {
	cases := []struct {
		mode    os.FileMode
		wantErr bool
	}{
		{0o600, false},
		{0o400, false},
		{0o644, true},
		{0o640, true},
		{0o604, true},
	}
	for _, tc := range cases {
		t.Run(tc.mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(testMaterial)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			// Chmod sets the mode regardless of the umask.
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}

			_, err := LoadMasterKeyFile(path)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("LoadMasterKeyFile with mode %v: %v", tc.mode, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadMasterKeyFile with mode %v succeeded, want an error", tc.mode)
			}
			if !strings.Contains(err.Error(), "chmod 600 "+path) {
				t.Errorf("LoadMasterKeyFile error %q does not name the chmod command", err)
			}
		})
	}
}

func TestLoadMasterKeyFileMissing(t *testing.T) {
	_, err := LoadMasterKeyFile(filepath.Join(t.TempDir(), "missing.key"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadMasterKeyFile of a missing file: error %v, want one that wraps os.ErrNotExist", err)
	}
}

func TestGenerateMasterKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	generated, err := GenerateMasterKeyFile(path)
	if err != nil {
		t.Fatalf("GenerateMasterKeyFile: %v", err)
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("generated key file has mode %v, want 0600", info.Mode().Perm())
	}

	loaded, err := LoadMasterKeyFile(path)
	if err != nil {
		t.Fatalf("LoadMasterKeyFile: %v", err)
	}
	if loaded.ID() != generated.ID() {
		t.Errorf("loaded key id %s, want the generated id %s", loaded.ID(), generated.ID())
	}

	before := readFile(t, path)
	if _, err := GenerateMasterKeyFile(path); err == nil {
		t.Fatal("GenerateMasterKeyFile over an existing file succeeded, want an error")
	}
	if after := readFile(t, path); !bytes.Equal(after, before) {
		t.Error("GenerateMasterKeyFile changed the existing key file while failing")
	}
}

func TestWrapUnwrap(t *testing.T) {
	master := newMasterKey(t)
	dataKey := bytes.Repeat([]byte{7}, KeySize)

	wrapped, err := master.Wrap("p1", dataKey)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if bytes.Contains(wrapped, dataKey) {
		t.Error("wrapped key contains the data key in plain text")
	}
	if !master.WrappedBy(wrapped) {
		t.Error("WrappedBy(own wrapping) = false, want true")
	}

	unwrapped, err := master.Unwrap("p1", wrapped)
	if err != nil {
		t.Fatalf("Unwrap: %v", err)
	}
	if !bytes.Equal(unwrapped, dataKey) {
		t.Errorf("Unwrap = %x, want %x", unwrapped, dataKey)
	}

	if _, err := master.Unwrap("p2", wrapped); err == nil {
		t.Error("Unwrap with another project id succeeded, want an error")
	}

	other := newMasterKey(t)
	if other.WrappedBy(wrapped) {
		t.Error("WrappedBy(wrapping of another master key) = true, want false")
	}
	_, err = other.Unwrap("p1", wrapped)
	if err == nil {
		t.Fatal("Unwrap with another master key succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "rotation") {
		t.Errorf("Unwrap with another master key: error %q does not mention the master key rotation", err)
	}

	if _, err := master.Wrap("p1", dataKey[:16]); err == nil {
		t.Error("Wrap of a 16-byte data key succeeded, want an error")
	}
	if _, err := master.Unwrap("p1", wrapped[:20]); err == nil {
		t.Error("Unwrap of a truncated wrapped key succeeded, want an error")
	}
}

func TestDataKeyLifecycle(t *testing.T) {
	ctx := t.Context()
	master := newMasterKey(t)
	path := filepath.Join(t.TempDir(), "keys.db")
	file := openTestFile(t, path)
	ring := New(master, file)

	if _, err := ring.DataKey(ctx, "p1", false); !errors.Is(err, eventstore.ErrKeyNotFound) {
		t.Fatalf("DataKey(create=false) of a new project: error %v, want ErrKeyNotFound", err)
	}

	key, err := ring.DataKey(ctx, "p1", true)
	if err != nil {
		t.Fatalf("DataKey(create=true): %v", err)
	}
	if len(key) != KeySize {
		t.Fatalf("data key has %d bytes, want %d", len(key), KeySize)
	}
	again, err := ring.DataKey(ctx, "p1", true)
	if err != nil {
		t.Fatalf("second DataKey(create=true): %v", err)
	}
	if !bytes.Equal(again, key) {
		t.Error("second DataKey(create=true) returned another key")
	}

	if err := file.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	file = openTestFile(t, path)
	ring = New(master, file)
	reopened, err := ring.DataKey(ctx, "p1", false)
	if err != nil {
		t.Fatalf("DataKey after reopening: %v", err)
	}
	if !bytes.Equal(reopened, key) {
		t.Error("DataKey after reopening returned another key")
	}

	if err := ring.DestroyKey(ctx, "p1"); err != nil {
		t.Fatalf("DestroyKey: %v", err)
	}
	if _, err := ring.DataKey(ctx, "p1", true); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Errorf("DataKey(create=true) after DestroyKey: error %v, want ErrKeyDestroyed", err)
	}
	if err := ring.DestroyKey(ctx, "p1"); err != nil {
		t.Errorf("DestroyKey of a destroyed key: %v", err)
	}

	if err := file.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	file = openTestFile(t, path)
	ring = New(master, file)
	if _, err := ring.DataKey(ctx, "p1", true); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Errorf("DataKey(create=true) after reopening: error %v, want ErrKeyDestroyed", err)
	}
	if _, err := ring.DataKey(ctx, "p1", false); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Errorf("DataKey(create=false) after reopening: error %v, want ErrKeyDestroyed", err)
	}
}

func TestDataKeyResultSurvivesForget(t *testing.T) {
	ring := New(newMasterKey(t), openTestFile(t, filepath.Join(t.TempDir(), "keys.db")))
	key, err := ring.DataKey(t.Context(), "p1", true)
	if err != nil {
		t.Fatalf("DataKey: %v", err)
	}
	saved := bytes.Clone(key)

	ring.Forget("p1")

	if !bytes.Equal(key, saved) {
		t.Errorf("Forget changed a key that DataKey had returned to %x", key)
	}
	cached, err := ring.DataKey(t.Context(), "p1", false)
	if err != nil {
		t.Fatalf("DataKey after Forget: %v", err)
	}
	if !bytes.Equal(cached, saved) {
		t.Error("DataKey after Forget returned another key")
	}
}

// pausingStorage holds its first Get after the read from the wrapped
// storage until release is closed.
type pausingStorage struct {
	Storage
	// paused is set by the first Get, the only one that pauses. Later
	// calls must not wait for it, as sync.Once would make them.
	paused  atomic.Bool
	read    chan struct{}
	release chan struct{}
}

func (s *pausingStorage) Get(ctx context.Context, projectID string) ([]byte, error) {
	wrapped, err := s.Storage.Get(ctx, projectID)
	if s.paused.CompareAndSwap(false, true) {
		close(s.read)
		<-s.release
	}
	return wrapped, err
}

func TestDataKeyRacingDestroyKeyIsNotCached(t *testing.T) {
	ctx := t.Context()
	master := newMasterKey(t)
	file := openTestFile(t, filepath.Join(t.TempDir(), "keys.db"))
	if _, err := New(master, file).DataKey(ctx, "p1", true); err != nil {
		t.Fatalf("DataKey: %v", err)
	}

	storage := &pausingStorage{Storage: file, read: make(chan struct{}), release: make(chan struct{})}
	ring := New(master, storage)
	done := make(chan error)
	go func() {
		_, err := ring.DataKey(ctx, "p1", false)
		done <- err
	}()

	// The goroutine has read the wrapped key but not cached it yet.
	<-storage.read
	if err := ring.DestroyKey(ctx, "p1"); err != nil {
		t.Fatalf("DestroyKey: %v", err)
	}
	close(storage.release)
	if err := <-done; err != nil {
		t.Fatalf("DataKey that started before DestroyKey: %v", err)
	}

	if _, err := ring.DataKey(ctx, "p1", false); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Errorf("DataKey after DestroyKey: error %v, want ErrKeyDestroyed", err)
	}
}

func TestDataKeyConcurrentCreate(t *testing.T) {
	ctx := t.Context()
	master := newMasterKey(t)
	file := openTestFile(t, filepath.Join(t.TempDir(), "keys.db"))
	rings := []*Keyring{New(master, file), New(master, file)}

	const goroutines = 32
	projects := []string{"p1", "p2", "p3"}
	keys := make([][][]byte, len(projects))
	errs := make([][]error, len(projects))
	var wg sync.WaitGroup
	for p, projectID := range projects {
		keys[p] = make([][]byte, goroutines)
		errs[p] = make([]error, goroutines)
		for g := range goroutines {
			wg.Go(func() {
				keys[p][g], errs[p][g] = rings[g%len(rings)].DataKey(ctx, projectID, true)
			})
		}
	}
	wg.Wait()

	for p, projectID := range projects {
		for g := range goroutines {
			if errs[p][g] != nil {
				t.Fatalf("goroutine %d, project %s: DataKey: %v", g, projectID, errs[p][g])
			}
			if !bytes.Equal(keys[p][g], keys[p][0]) {
				t.Errorf("goroutine %d, project %s: DataKey returned another key than goroutine 0", g, projectID)
			}
		}
		stored, err := master.Unwrap(projectID, getWrapped(t, file, projectID))
		if err != nil {
			t.Fatalf("Unwrap stored key of %s: %v", projectID, err)
		}
		if !bytes.Equal(stored, keys[p][0]) {
			t.Errorf("project %s: stored key differs from the key DataKey returned", projectID)
		}
	}
	if bytes.Equal(keys[0][0], keys[1][0]) {
		t.Error("two projects got the same data key")
	}
}

func TestFileCreateAfterDestroy(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "keys.db")
	file := openTestFile(t, path)
	wrapped := []byte("wrapped key bytes")

	if err := file.Create(ctx, "p1", wrapped); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := file.Create(ctx, "p1", wrapped); !errors.Is(err, ErrExists) {
		t.Errorf("second Create: error %v, want ErrExists", err)
	}
	if err := file.Destroy(ctx, "p1"); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if err := file.Destroy(ctx, "never-created"); err != nil {
		t.Fatalf("Destroy of a missing key: %v", err)
	}

	if err := file.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	file = openTestFile(t, path)
	for _, projectID := range []string{"p1", "never-created"} {
		if err := file.Create(ctx, projectID, wrapped); !errors.Is(err, ErrExists) {
			t.Errorf("Create(%s) after Destroy: error %v, want ErrExists", projectID, err)
		}
		if _, err := file.Get(ctx, projectID); !errors.Is(err, eventstore.ErrKeyDestroyed) {
			t.Errorf("Get(%s) after Destroy: error %v, want ErrKeyDestroyed", projectID, err)
		}
	}
	if _, err := file.Get(ctx, "p2"); !errors.Is(err, eventstore.ErrKeyNotFound) {
		t.Errorf("Get of a missing project: error %v, want ErrKeyNotFound", err)
	}
}

func TestFileCreateRejectsInvalidInput(t *testing.T) {
	file := openTestFile(t, filepath.Join(t.TempDir(), "keys.db"))
	cases := []struct {
		name      string
		projectID string
		wrapped   []byte
	}{
		{"empty project id", "", []byte("wrapped")},
		{"empty wrapped key", "p1", nil},
		{"destroyed marker", "p1", destroyedMarker},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := file.Create(t.Context(), tc.projectID, tc.wrapped); err == nil {
				t.Errorf("Create(%q, %x) succeeded, want an error", tc.projectID, tc.wrapped)
			}
		})
	}
	if _, err := file.Get(t.Context(), "p1"); !errors.Is(err, eventstore.ErrKeyNotFound) {
		t.Errorf("Get after rejected Creates: error %v, want ErrKeyNotFound", err)
	}
}

func TestFileMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.db")
	file := openTestFile(t, path)
	if err := file.Create(t.Context(), "p1", []byte("wrapped")); err != nil {
		t.Fatal(err)
	}
	// Destroy replaces the file through compaction.
	if err := file.Destroy(t.Context(), "p1"); err != nil {
		t.Fatal(err)
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("keyring file has mode %v, want 0600", info.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory contains %d entries after compaction, want only keys.db", len(entries))
	}
}

func TestCryptoShredding(t *testing.T) {
	ctx := t.Context()
	master := newMasterKey(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.db")
	file := openTestFile(t, path)
	ring := New(master, file)

	projects := []string{"p1", "p2", "p3"}
	dataKeys := make(map[string][]byte)
	wrappedKeys := make(map[string][]byte)
	for _, projectID := range projects {
		key, err := ring.DataKey(ctx, projectID, true)
		if err != nil {
			t.Fatalf("DataKey(%s): %v", projectID, err)
		}
		dataKeys[projectID] = key
		wrappedKeys[projectID] = getWrapped(t, file, projectID)
	}

	if err := ring.DestroyKey(ctx, "p2"); err != nil {
		t.Fatalf("DestroyKey: %v", err)
	}
	if err := ring.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	content := readFile(t, path)
	if bytes.Contains(content, wrappedKeys["p2"]) {
		t.Error("keyring file still contains the wrapped key of the destroyed project")
	}
	for _, projectID := range []string{"p1", "p3"} {
		if !bytes.Contains(content, wrappedKeys[projectID]) {
			t.Errorf("keyring file no longer contains the wrapped key of %s", projectID)
		}
	}
	if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("compaction left %s behind: %v", path+compactSuffix, err)
	}

	file = openTestFile(t, path)
	ring = New(master, file)
	for _, projectID := range []string{"p1", "p3"} {
		key, err := ring.DataKey(ctx, projectID, false)
		if err != nil {
			t.Fatalf("DataKey(%s) after reopening: %v", projectID, err)
		}
		if !bytes.Equal(key, dataKeys[projectID]) {
			t.Errorf("DataKey(%s) after reopening returned another key", projectID)
		}
	}
	if _, err := ring.DataKey(ctx, "p2", false); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Errorf("DataKey(p2) after reopening: error %v, want ErrKeyDestroyed", err)
	}
}

// TestOpenFileCompacts covers a process that stopped after a delete was
// committed and before the file was compacted.
func TestOpenFileCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	wrapped := bytes.Repeat([]byte("old wrapped key "), 4)
	update := func(fn func(*bolt.Bucket) error) {
		t.Helper()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			bucket, err := tx.CreateBucketIfNotExists(bucketName)
			if err != nil {
				return err
			}
			return fn(bucket)
		})
		if closeErr := db.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	update(func(b *bolt.Bucket) error { return b.Put([]byte("p1"), wrapped) })
	update(func(b *bolt.Bucket) error { return b.Put([]byte("p1"), destroyedMarker) })
	if !bytes.Contains(readFile(t, path), wrapped) {
		t.Fatal("the uncompacted file does not contain the old value, so this test checks nothing")
	}

	// A leftover from compaction that stopped halfway is removed.
	if err := os.WriteFile(path+compactSuffix, []byte("partial copy"), 0o600); err != nil {
		t.Fatal(err)
	}

	file := openTestFile(t, path)
	if err := file.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if bytes.Contains(readFile(t, path), wrapped) {
		t.Error("keyring file still contains the old value after OpenFile")
	}
	if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenFile left %s behind: %v", path+compactSuffix, err)
	}
}

// createKeys creates data keys for projectIDs through a Keyring with
// master, and returns them by project id.
func createKeys(t *testing.T, master *MasterKey, storage Storage, projectIDs ...string) map[string][]byte {
	t.Helper()
	ring := New(master, storage)
	keys := make(map[string][]byte)
	for _, projectID := range projectIDs {
		key, err := ring.DataKey(t.Context(), projectID, true)
		if err != nil {
			t.Fatalf("DataKey(%s): %v", projectID, err)
		}
		keys[projectID] = key
	}
	return keys
}

func TestRotate(t *testing.T) {
	ctx := t.Context()
	oldMaster := newMasterKey(t)
	newMaster := newMasterKey(t)
	path := filepath.Join(t.TempDir(), "keys.db")
	file := openTestFile(t, path)

	dataKeys := createKeys(t, oldMaster, file, "p1", "p2", "p3")
	if err := file.Destroy(ctx, "p3"); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	oldWrapped := map[string][]byte{
		"p1": getWrapped(t, file, "p1"),
		"p2": getWrapped(t, file, "p2"),
	}

	count, err := Rotate(ctx, file, oldMaster, newMaster)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if count != 2 {
		t.Errorf("Rotate rewrapped %d keys, want 2", count)
	}

	for _, projectID := range []string{"p1", "p2"} {
		wrapped := getWrapped(t, file, projectID)
		if !newMaster.WrappedBy(wrapped) {
			t.Errorf("key of %s is not wrapped by the new master key", projectID)
		}
		key, err := newMaster.Unwrap(projectID, wrapped)
		if err != nil {
			t.Fatalf("Unwrap(%s) with the new master key: %v", projectID, err)
		}
		if !bytes.Equal(key, dataKeys[projectID]) {
			t.Errorf("data key of %s changed during rotation", projectID)
		}
		if _, err := oldMaster.Unwrap(projectID, wrapped); err == nil {
			t.Errorf("Unwrap(%s) with the old master key succeeded after rotation", projectID)
		}
	}
	if _, err := file.Get(ctx, "p3"); !errors.Is(err, eventstore.ErrKeyDestroyed) {
		t.Errorf("Get(p3) after rotation: error %v, want ErrKeyDestroyed", err)
	}

	// The file is read right after the rotation, because any later write
	// transaction may reuse the freed pages and hide old bytes by chance.
	if err := file.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	content := readFile(t, path)
	for projectID, wrapped := range oldWrapped {
		if bytes.Contains(content, wrapped) {
			t.Errorf("keyring file still contains the old wrapping of %s", projectID)
		}
	}
	file = openTestFile(t, path)

	count, err = Rotate(ctx, file, oldMaster, newMaster)
	if err != nil {
		t.Fatalf("second Rotate: %v", err)
	}
	if count != 0 {
		t.Errorf("second Rotate rewrapped %d keys, want 0", count)
	}

	key, err := New(newMaster, file).DataKey(ctx, "p1", false)
	if err != nil {
		t.Fatalf("DataKey with the new master key: %v", err)
	}
	if !bytes.Equal(key, dataKeys["p1"]) {
		t.Error("DataKey with the new master key returned another key")
	}
}

func TestRewrapErrorChangesNothing(t *testing.T) {
	ctx := t.Context()
	oldMaster := newMasterKey(t)
	newMaster := newMasterKey(t)
	file := openTestFile(t, filepath.Join(t.TempDir(), "keys.db"))

	projects := []string{"p1", "p2", "p3"}
	createKeys(t, oldMaster, file, projects...)
	before := make(map[string][]byte)
	for _, projectID := range projects {
		before[projectID] = getWrapped(t, file, projectID)
	}
	assertUnchanged := func() {
		t.Helper()
		for _, projectID := range projects {
			if !bytes.Equal(getWrapped(t, file, projectID), before[projectID]) {
				t.Errorf("wrapped key of %s changed although the rewrap failed", projectID)
			}
		}
	}

	// p1 is rewrapped before p2 fails, because bbolt visits keys in order.
	errRewrap := errors.New("rewrap failed")
	count, err := file.Rewrap(ctx, func(projectID string, wrapped []byte) ([]byte, error) {
		if projectID == "p2" {
			return nil, errRewrap
		}
		key, err := oldMaster.Unwrap(projectID, wrapped)
		if err != nil {
			return nil, err
		}
		return newMaster.Wrap(projectID, key)
	})
	if !errors.Is(err, errRewrap) {
		t.Errorf("Rewrap: error %v, want the callback's error", err)
	}
	if count != 0 {
		t.Errorf("failed Rewrap returned count %d, want 0", count)
	}
	assertUnchanged()

	wrongMaster := newMasterKey(t)
	_, err = Rotate(ctx, file, wrongMaster, newMaster)
	if err == nil {
		t.Fatal("Rotate from a master key that wrapped nothing succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "rotation") {
		t.Errorf("Rotate error %q does not mention the master key rotation", err)
	}
	assertUnchanged()

	_, err = file.Rewrap(ctx, func(projectID string, wrapped []byte) ([]byte, error) {
		return destroyedMarker, nil
	})
	if err == nil {
		t.Error("Rewrap to the destroyed marker succeeded, want an error")
	}
	assertUnchanged()

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Rotate(canceled, file, oldMaster, newMaster); !errors.Is(err, context.Canceled) {
		t.Errorf("Rotate with a canceled context: error %v, want context.Canceled", err)
	}
	assertUnchanged()
}

func TestOpenFileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	openTestFile(t, path)

	second, err := OpenFile(path)
	if err == nil {
		second.Close()
		t.Fatal("second OpenFile of an open file succeeded, want an error")
	}
	for _, want := range []string{path, "another server", "same data directory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("OpenFile error %q does not contain %q", err, want)
		}
	}
}

func TestFileMethodsAfterClose(t *testing.T) {
	ctx := t.Context()
	master := newMasterKey(t)
	path := filepath.Join(t.TempDir(), "keys.db")
	file := openTestFile(t, path)
	ring := New(master, file)
	if _, err := ring.DataKey(ctx, "p1", true); err != nil {
		t.Fatal(err)
	}
	ring.Forget("p1")
	if err := ring.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := file.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	_, getErr := file.Get(ctx, "p1")
	_, rewrapErr := file.Rewrap(ctx, func(projectID string, wrapped []byte) ([]byte, error) {
		return wrapped, nil
	})
	_, dataKeyErr := ring.DataKey(ctx, "p1", true)
	cases := []struct {
		method string
		err    error
	}{
		{"Get", getErr},
		{"Create", file.Create(ctx, "p2", []byte("wrapped"))},
		{"Destroy", file.Destroy(ctx, "p1")},
		{"Rewrap", rewrapErr},
		{"Keyring.DataKey", dataKeyErr},
		{"Keyring.DestroyKey", ring.DestroyKey(ctx, "p1")},
	}
	for _, tc := range cases {
		if !errors.Is(tc.err, ErrClosed) {
			t.Errorf("%s after Close: error %v, want ErrClosed", tc.method, tc.err)
			continue
		}
		if !strings.Contains(tc.err.Error(), path) {
			t.Errorf("%s after Close: error %q does not name the file", tc.method, tc.err)
		}
	}
}

func TestCheckMasterKeyRejectsOtherKey(t *testing.T) {
	storage := openTestFile(t, filepath.Join(t.TempDir(), "keys.db"))
	right, wrong := newMasterKey(t), newMasterKey(t)
	ctx := context.Background()
	if err := New(right, storage).CheckMasterKey(ctx); err != nil {
		t.Fatalf("first check on an empty storage: %v", err)
	}
	if err := New(right, storage).CheckMasterKey(ctx); err != nil {
		t.Errorf("check with the recording key: %v", err)
	}

	err := New(wrong, storage).CheckMasterKey(ctx)

	if err == nil || !strings.Contains(err.Error(), right.ID()) || !strings.Contains(err.Error(), wrong.ID()) {
		t.Errorf("check with another key returned %v, want an error naming both key ids", err)
	}
}

func TestWrongMasterKeyMakesNoDataKey(t *testing.T) {
	storage := openTestFile(t, filepath.Join(t.TempDir(), "keys.db"))
	ctx := context.Background()
	if err := New(newMasterKey(t), storage).CheckMasterKey(ctx); err != nil {
		t.Fatal(err)
	}

	_, err := New(newMasterKey(t), storage).DataKey(ctx, "p1", true)

	if err == nil {
		t.Fatal("a keyring with another master key made a data key")
	}
	if _, err := storage.Get(ctx, "p1"); !errors.Is(err, eventstore.ErrKeyNotFound) {
		t.Errorf("storage after the refused DataKey: %v, want ErrKeyNotFound", err)
	}
}

func TestRotateMovesCheckToNewKey(t *testing.T) {
	storage := openTestFile(t, filepath.Join(t.TempDir(), "keys.db"))
	old, next := newMasterKey(t), newMasterKey(t)
	ctx := context.Background()
	if _, err := New(old, storage).DataKey(ctx, "p1", true); err != nil {
		t.Fatal(err)
	}

	n, err := Rotate(ctx, storage, old, next)

	if err != nil || n != 1 {
		t.Fatalf("Rotate = %d, %v; want 1 data key and no error", n, err)
	}
	if err := New(next, storage).CheckMasterKey(ctx); err != nil {
		t.Errorf("check with the new key after the rotation: %v", err)
	}
	if err := New(old, storage).CheckMasterKey(ctx); err == nil {
		t.Error("check with the old key passed after the rotation")
	}
}

// Forget wipes the cached key in place, so a DataKey that copied the cached
// slice outside the lock could return a key that is being zeroed.
func TestDataKeyCopyRacingForget(t *testing.T) {
	ctx := context.Background()
	k := New(newMasterKey(t), openTestFile(t, filepath.Join(t.TempDir(), "keys.db")))
	want, err := k.DataKey(ctx, "p1", true)
	if err != nil {
		t.Fatal(err)
	}
	var wrong atomic.Int64
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for range 2000 {
				got, err := k.DataKey(ctx, "p1", false)
				if err == nil && !bytes.Equal(got, want) {
					wrong.Add(1)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		readers.Wait()
		close(done)
	}()
	for {
		select {
		case <-done:
			if n := wrong.Load(); n > 0 {
				t.Errorf("DataKey returned a key other than the stored one %d times", n)
			}
			return
		default:
			k.Forget("p1")
		}
	}
}

// failingRewrap fails the Rewrap call with the given number, counting from
// one, as a crash in the middle of a rotation would stop it.
type failingRewrap struct {
	Storage
	calls, failAt int
}

func (s *failingRewrap) Rewrap(ctx context.Context, rewrap func(string, []byte) ([]byte, error)) (int, error) {
	s.calls++
	if s.calls == s.failAt {
		return 0, errors.New("interrupted")
	}
	return s.Storage.Rewrap(ctx, rewrap)
}

func TestInterruptedRotationBlocksStart(t *testing.T) {
	file := openTestFile(t, filepath.Join(t.TempDir(), "keys.db"))
	old, next := newMasterKey(t), newMasterKey(t)
	ctx := context.Background()
	if _, err := New(old, file).DataKey(ctx, "p1", true); err != nil {
		t.Fatal(err)
	}

	if _, err := Rotate(ctx, &failingRewrap{Storage: file, failAt: 2}, old, next); err == nil {
		t.Fatal("Rotate with its data key pass failing returned no error")
	}

	for name, m := range map[string]*MasterKey{"old": old, "new": next} {
		if err := New(m, file).CheckMasterKey(ctx); err == nil || !strings.Contains(err.Error(), "unfinished") {
			t.Errorf("check with the %s key during the rotation: %v, want an error naming the unfinished rotation", name, err)
		}
	}
	if n, err := Rotate(ctx, file, old, next); err != nil || n != 1 {
		t.Fatalf("running the rotation again = %d, %v; want 1 data key rewrapped", n, err)
	}
	if err := New(next, file).CheckMasterKey(ctx); err != nil {
		t.Errorf("check with the new key after the rotation: %v", err)
	}
	if _, err := New(next, file).DataKey(ctx, "p1", false); err != nil {
		t.Errorf("data key with the new key after the rotation: %v", err)
	}
}

// A destroyed key whose compaction failed stays in the file's free pages,
// so destroying it again must compact, although the key reads as destroyed.
func TestDestroyRetriesFailedCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	file := openTestFile(t, path)
	ctx := context.Background()
	ring := New(newMasterKey(t), file)
	if _, err := ring.DataKey(ctx, "p1", true); err != nil {
		t.Fatal(err)
	}
	wrapped, err := file.Get(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	// A non-empty directory where compaction writes its file makes it fail.
	blocker := path + compactSuffix
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := ring.DestroyKey(ctx, "p1"); err == nil {
		t.Fatal("DestroyKey succeeded although its compaction could not write")
	}
	if err := os.RemoveAll(blocker); err != nil {
		t.Fatal(err)
	}

	if err := ring.DestroyKey(ctx, "p1"); err != nil {
		t.Fatalf("second DestroyKey: %v", err)
	}

	if data, err := os.ReadFile(path); err != nil || bytes.Contains(data, wrapped) {
		t.Errorf("the key file still holds the destroyed wrapped key (read error %v)", err)
	}
}
