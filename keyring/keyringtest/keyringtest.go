// Package keyringtest opens real keyrings for tests: a bbolt key file in
// the test's temporary directory under a random master key.
package keyringtest

import (
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/keyring"
)

// New returns a keyring on a new key file that is closed when the test
// ends.
func New(t testing.TB) *keyring.Keyring {
	t.Helper()
	material := make([]byte, keyring.KeySize)
	if _, err := rand.Read(material); err != nil {
		t.Fatal(err)
	}
	master, err := keyring.NewMasterKey(material)
	if err != nil {
		t.Fatal(err)
	}
	storage, err := keyring.OpenFile(filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	k := keyring.New(master, storage)
	t.Cleanup(func() { k.Close() })
	return k
}

// Codec returns a codec that seals with a new keyring from New.
func Codec(t testing.TB) *eventstore.Codec {
	t.Helper()
	return eventstore.NewCodec(New(t))
}
