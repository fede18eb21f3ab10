package eventstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/integrationplatform/onboarding/domain"
)

// sealedPrefix starts every sealed value in stored event data: AES-256-GCM
// with the project's data key, as unpadded base64url of nonce and
// ciphertext.
const sealedPrefix = "sealed:v1:"

// seal returns a copy of e whose personal fields are sealed, leaving e as
// it is, because the caller keeps applying e with its plain values.
func (c *Codec) seal(ctx context.Context, eventID, projectID string, e domain.PersonalData) (domain.Event, error) {
	copied, err := domain.NewEvent(e.EventType())
	if err != nil {
		return nil, err
	}
	target, ok := copied.(domain.PersonalData)
	if !ok {
		return nil, fmt.Errorf("event type %s does not carry personal data", e.EventType())
	}
	copyEvent(target, e)

	fields := target.PersonalFields()
	if !hasValues(fields) {
		return target, nil
	}
	if c.keys == nil {
		return nil, fmt.Errorf("encode %s of project %s: it carries personal data and no keyring is configured", e.EventType(), projectID)
	}
	key, err := c.keys.DataKey(ctx, projectID, true)
	if errors.Is(err, ErrKeyDestroyed) {
		// Only a project whose key storage lost its key gets here: the
		// aggregate rejects personal data after an erasure.
		return nil, &domain.Error{Kind: domain.KindRuleViolation, Rule: domain.RulePersonalDataErased,
			Message: fmt.Sprintf("the data key of project %q is gone, so the project takes no more secret answers or contacts; erase its personal data with eraseProjectPersonalData and add new ones in an additional project", projectID)}
	}
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", e.EventType(), err)
	}

	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	for i, f := range fields {
		if *f == "" {
			continue
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(*f)+aead.Overhead())
		if _, err := io.ReadFull(c.random, nonce); err != nil {
			return nil, err
		}
		sealed := aead.Seal(nonce, nonce, []byte(*f), sealAAD(projectID, eventID, i))
		*f = sealedPrefix + base64.RawURLEncoding.EncodeToString(sealed)
	}
	return target, nil
}

// open replaces the sealed personal fields of e by their plain values, or
// marks e erased when the project's data key is gone. Values that are not
// sealed, written before sealing existed, stay as they are.
func (c *Codec) open(ctx context.Context, eventID, projectID string, e domain.PersonalData) error {
	fields := e.PersonalFields()
	var aead cipher.AEAD
	for i, f := range fields {
		encoded, ok := strings.CutPrefix(*f, sealedPrefix)
		if !ok {
			continue
		}
		if aead == nil {
			if c.keys == nil {
				return errors.New("the event contains sealed personal data, but no keyring is configured; configure the master key that wraps the data keys")
			}
			key, err := c.keys.DataKey(ctx, projectID, false)
			if errors.Is(err, ErrKeyNotFound) {
				// The key storage lost the key, so the values are as
				// unreadable as erased ones. The key is marked destroyed,
				// because a new key made for the project would make its
				// sealed values fail to open instead.
				err = c.destroyLost(ctx, projectID)
				if err == nil {
					err = ErrKeyDestroyed
				}
			}
			if errors.Is(err, ErrKeyDestroyed) {
				e.MarkErased()
				return nil
			}
			if err != nil {
				return err
			}
			if aead, err = newAEAD(key); err != nil {
				return err
			}
		}
		sealed, err := base64.RawURLEncoding.DecodeString(encoded)
		if err != nil || len(sealed) < aead.NonceSize() {
			return fmt.Errorf("sealed field %d is malformed", i)
		}
		plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], sealAAD(projectID, eventID, i))
		if err != nil {
			return fmt.Errorf("open sealed field %d: %w", i, err)
		}
		*f = string(plain)
	}
	return nil
}

// copyEvent copies the fields of src into dst, pointers to the same
// struct type.
func copyEvent(dst, src domain.PersonalData) {
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src).Elem())
}

func hasValues(fields []*string) bool {
	for _, f := range fields {
		if *f != "" {
			return true
		}
	}
	return false
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	return cipher.NewGCM(block)
}

// sealAAD binds a sealed value to its project, event and field, so that it
// does not open when copied anywhere else.
func sealAAD(projectID, eventID string, field int) []byte {
	return []byte("onboarding sealed value\x00" + projectID + "\x00" + eventID + "\x00" + strconv.Itoa(field))
}

// RequestHash returns an identifier of an idempotent request of the
// project, stored in the metadata of the events it caused. It is an
// HMAC-SHA-256 keyed by the project's data key, because a plain hash of a
// request that carries a phone number could be reversed by trying every
// number. It returns "" when the key was destroyed, or when the project has
// none and create is false, and a plain SHA-256 without a keyring.
func (c *Codec) RequestHash(ctx context.Context, projectID string, request []byte, create bool) (string, error) {
	if c.keys == nil {
		sum := sha256.Sum256(request)
		return hex.EncodeToString(sum[:16]), nil
	}
	key, err := c.keys.DataKey(ctx, projectID, create)
	if errors.Is(err, ErrKeyDestroyed) || errors.Is(err, ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("onboarding request hash\x00"))
	mac.Write(request)
	return hex.EncodeToString(mac.Sum(nil)[:16]), nil
}

// DestroyKey destroys the project's data key, so that its sealed values
// decode as erased from then on.
func (c *Codec) DestroyKey(ctx context.Context, projectID string) error {
	if c.keys == nil {
		return nil
	}
	return c.keys.DestroyKey(ctx, projectID)
}

// destroyLost marks the lost data key of a project destroyed.
func (c *Codec) destroyLost(ctx context.Context, projectID string) error {
	return c.destroy(ctx, projectID, "mark the lost data key of project %s destroyed: %w")
}

// destroyTimeout bounds the destruction of a data key that decoding an
// erasure triggers, which must not end with the reader's context.
const destroyTimeout = 10 * time.Second

// destroyErased destroys the data key of a project whose erasure event is
// being decoded. The command that appended the event destroys the key
// right after, but it can fail, crash or run in another process. So every
// process that reads the erasure destroys the key too, and no reader keeps
// the key in storage or in memory. A transient error is returned, so that
// the projector retries instead of skipping the erasure.
func (c *Codec) destroyErased(ctx context.Context, projectID string) error {
	return c.destroy(ctx, projectID, "destroy the data key of erased project %s: %w")
}

// destroy destroys the project's data key. It returns a transient error,
// which readers retry, and passes any other error to onDestroyError and
// returns nil, so that one broken key storage entry does not stop every
// read model.
func (c *Codec) destroy(ctx context.Context, projectID, format string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), destroyTimeout)
	defer cancel()
	err := c.keys.DestroyKey(ctx, projectID)
	if err == nil {
		return nil
	}
	err = fmt.Errorf(format, projectID, err)
	if IsTransient(err) {
		return err
	}
	if c.onDestroyError != nil {
		c.onDestroyError(projectID, err)
	}
	return nil
}
