// Package keyring keeps the per-project data keys that seal secrets and
// personal data in the event log. Data keys are random AES-256 keys, stored
// only wrapped (AES-256-GCM) by a master key that comes from configuration,
// so the key storage alone reveals nothing and rotating the master key
// rewraps the data keys without touching the log.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/integrationplatform/onboarding/eventstore"
)

// KeySize is the size in bytes of master keys and data keys (AES-256).
const KeySize = 32

// wrapVersion is the first byte of every wrapped data key.
const wrapVersion = 1

// keyIDSize is the size of a master key's id inside a wrapped data key.
const keyIDSize = 8

// MasterKey wraps and unwraps data keys.
type MasterKey struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

// NewMasterKey returns a master key from 32 bytes of key material.
func NewMasterKey(material []byte) (*MasterKey, error) {
	if len(material) != KeySize {
		return nil, fmt.Errorf("master key has %d bytes, want %d; generate one with 'openssl rand -base64 32'", len(material), KeySize)
	}
	block, err := aes.NewCipher(material)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	m := &MasterKey{aead: aead}
	sum := sha256.Sum256(append([]byte("onboarding master key id\x00"), material...))
	copy(m.id[:], sum[:])
	return m, nil
}

// ParseMasterKey returns the master key encoded in text as standard base64
// (with or without padding) or as 64 hexadecimal digits. Surrounding white
// space is ignored, so a key file may end with a newline.
func ParseMasterKey(text string) (*MasterKey, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("master key is empty; generate one with 'openssl rand -base64 32'")
	}
	if material, err := hex.DecodeString(text); err == nil && len(material) == KeySize {
		return NewMasterKey(material)
	}
	material, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "="))
	if err != nil {
		return nil, fmt.Errorf("master key is neither base64 nor 64 hex digits; generate one with 'openssl rand -base64 32'")
	}
	if len(material) != KeySize {
		return nil, fmt.Errorf("master key decodes from base64 to %d bytes, want %d (or 64 hex digits); generate one with 'openssl rand -base64 32'", len(material), KeySize)
	}
	return NewMasterKey(material)
}

// LoadMasterKeyFile reads a master key written as ParseMasterKey accepts.
// The file must not be readable by group or others.
func LoadMasterKeyFile(path string) (*MasterKey, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("master key file %s has mode %v; restrict it with 'chmod 600 %s'", path, info.Mode().Perm(), path)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	m, err := ParseMasterKey(string(text))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return m, nil
}

// GenerateMasterKeyFile writes a new random master key to path with mode
// 0600 and returns it. It fails if path exists.
func GenerateMasterKeyFile(path string) (*MasterKey, error) {
	material := make([]byte, KeySize)
	if _, err := rand.Read(material); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create master key file: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(material) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return nil, fmt.Errorf("write master key file %s: %w", path, err)
	}
	return NewMasterKey(material)
}

// ID returns a short hexadecimal id of the master key, which is safe to log.
func (m *MasterKey) ID() string { return hex.EncodeToString(m.id[:]) }

// Wrap seals a data key for projectID. The project id is authenticated, so
// a wrapped key copied to another project does not unwrap.
func (m *MasterKey) Wrap(projectID string, dataKey []byte) ([]byte, error) {
	if len(dataKey) != KeySize {
		return nil, fmt.Errorf("data key has %d bytes, want %d", len(dataKey), KeySize)
	}
	out := make([]byte, 0, 1+keyIDSize+m.aead.NonceSize()+KeySize+m.aead.Overhead())
	out = append(out, wrapVersion)
	out = append(out, m.id[:]...)
	nonce := make([]byte, m.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return m.aead.Seal(out, nonce, dataKey, wrapAAD(projectID)), nil
}

// WrappedBy reports whether wrapped was wrapped by m.
func (m *MasterKey) WrappedBy(wrapped []byte) bool {
	return len(wrapped) > 1+keyIDSize && wrapped[0] == wrapVersion && string(wrapped[1:1+keyIDSize]) == string(m.id[:])
}

// Unwrap opens a data key that Wrap sealed for projectID.
func (m *MasterKey) Unwrap(projectID string, wrapped []byte) ([]byte, error) {
	header := 1 + keyIDSize + m.aead.NonceSize()
	if len(wrapped) < header+m.aead.Overhead() || wrapped[0] != wrapVersion {
		return nil, fmt.Errorf("wrapped data key of project %s is malformed", projectID)
	}
	if !m.WrappedBy(wrapped) {
		return nil, fmt.Errorf("data key of project %s is wrapped by master key %s, not by the configured key %s (%w); configure the key that wrapped it, or run rotate-master-key again to finish a rotation", projectID, wrappedKeyID(wrapped), m.ID(), eventstore.ErrWrongMasterKey)
	}
	key, err := m.aead.Open(nil, wrapped[1+keyIDSize:header], wrapped[header:], wrapAAD(projectID))
	if err != nil {
		return nil, fmt.Errorf("unwrap data key of project %s: %w", projectID, err)
	}
	return key, nil
}

// rotationVersion is the first byte of the rotation marker, which replaces
// the master key check while a rotation runs. The ids of the old and the
// new master key follow it.
const rotationVersion = 2

// rotationMarker returns the marker of a rotation from old to next.
func rotationMarker(old, next *MasterKey) []byte {
	marker := append([]byte{rotationVersion}, old.id[:]...)
	return append(marker, next.id[:]...)
}

// parseRotationMarker returns the key ids of a rotation marker, and false
// for anything else.
func parseRotationMarker(b []byte) (oldID, nextID string, ok bool) {
	if len(b) != 1+2*keyIDSize || b[0] != rotationVersion {
		return "", "", false
	}
	return hex.EncodeToString(b[1 : 1+keyIDSize]), hex.EncodeToString(b[1+keyIDSize:]), true
}

// wrappedKeyID returns the id of the master key that wrapped a data key.
func wrappedKeyID(wrapped []byte) string {
	if len(wrapped) < 1+keyIDSize {
		return "unknown"
	}
	return hex.EncodeToString(wrapped[1 : 1+keyIDSize])
}

func wrapAAD(projectID string) []byte { return []byte("onboarding data key\x00" + projectID) }
