package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/esdb"
	"github.com/integrationplatform/onboarding/keyring"
)

// KeyFileName is the file of the embedded key storage in the data
// directory, beside the event store.
const KeyFileName = "keys.db"

// DevMasterKeyFileName is the master key file that serve creates in the
// data directory when no master key is configured. It suits development
// only, because a copy of the data directory carries the key with it.
const DevMasterKeyFileName = "master.key"

// addKeyFlags adds the flags that locate the master key.
func addKeyFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.MasterKeyFile, "master-key-file", "", "file with the 32-byte master key that wraps the data keys, as base64 or 64 hex digits, mode 0600; without it and ONBOARDING_MASTER_KEY, the file master.key in --data-dir is used, which serve creates if missing on a loopback address (env ONBOARDING_MASTER_KEY_FILE)")
	fs.BoolVar(&cfg.NewKeyStorage, "new-key-storage", false, "accept an empty key storage beside an event log that holds events, as for a log written before sealing existed (env ONBOARDING_NEW_KEY_STORAGE)")
	fs.StringVar(&cfg.masterKey, "master-key", "", "the master key itself, as base64 or 64 hex digits; prefer the environment variable, which ps does not show (env ONBOARDING_MASTER_KEY)")
}

// masterKeyConfigured reports whether a master key was given, rather than
// taken from the development file in the data directory.
func (c *Config) masterKeyConfigured() bool { return c.MasterKeyFile != "" || c.masterKey != "" }

// loadMasterKey returns the configured master key. Without one it reads
// the development key file in the data directory, and returns nil when
// that does not exist.
func loadMasterKey(cfg Config, log zerolog.Logger) (*keyring.MasterKey, error) {
	switch {
	case cfg.masterKey != "":
		m, err := keyring.ParseMasterKey(cfg.masterKey)
		if err != nil {
			return nil, fmt.Errorf("--master-key (%s): %w", envName("master-key"), err)
		}
		return m, nil
	case cfg.MasterKeyFile != "":
		m, err := keyring.LoadMasterKeyFile(cfg.MasterKeyFile)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w; pass an existing key file to --master-key-file, or create one with 'openssl rand -base64 32 > FILE && chmod 600 FILE'", err)
		}
		return m, err
	}
	path := filepath.Join(cfg.DataDir, DevMasterKeyFileName)
	m, err := keyring.LoadMasterKeyFile(path)
	if err == nil {
		log.Warn().Str("path", path).Str("master_key_id", m.ID()).Msg("master key read from the data directory; configure --master-key-file outside it for production")
		return m, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return nil, err
}

// createDevMasterKey creates the development key file in the data
// directory. recordedID is the master key that the key storage records.
// Creating fails when there is one, because a new key would open none of
// the data keys that it wrapped.
func createDevMasterKey(cfg Config, recordedID string, log zerolog.Logger) (*keyring.MasterKey, error) {
	path := filepath.Join(cfg.DataDir, DevMasterKeyFileName)
	if recordedID != "" {
		return nil, fmt.Errorf("the key storage contains data keys wrapped by master key %s, and no master key is configured (%s does not exist); pass that key with --master-key-file (%s)", recordedID, path, envName("master-key-file"))
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	m, err := keyring.GenerateMasterKeyFile(path)
	if err != nil {
		return nil, err
	}
	log.Warn().Str("path", path).Str("master_key_id", m.ID()).Msg("created a development master key in the data directory; configure --master-key-file outside it for production")
	return m, nil
}

// openKeyStorage opens the storage of wrapped data keys that belongs to
// store: a bbolt file beside the embedded store, or key streams in
// EventStoreDB, whose replicas all share them.
func openKeyStorage(cfg Config, store eventstore.Store) (keyring.Storage, error) {
	if s, ok := store.(*esdb.Store); ok {
		return s.KeyStorage(), nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	return keyring.OpenFile(filepath.Join(cfg.DataDir, KeyFileName))
}

// openCodec returns the codec for store with its keyring, and the keyring
// to close. Without a master key and with create false, as for offline
// commands on a store that never sealed anything, the codec has no
// keyring and fails on sealed values.
func openCodec(ctx context.Context, cfg Config, store eventstore.Store, create bool, log zerolog.Logger) (*eventstore.Codec, io.Closer, error) {
	master, err := loadMasterKey(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	if master == nil && !create {
		return eventstore.NewCodec(nil), io.NopCloser(nil), nil
	}

	storage, err := openKeyStorage(cfg, store)
	if err != nil {
		return nil, nil, err
	}
	keys, err := checkedKeyring(ctx, cfg, store, storage, master, log)
	if err != nil {
		storage.Close()
		return nil, nil, err
	}
	log.Info().Str("master_key_id", keys.MasterKeyID()).Msg("keyring opened")

	codec := eventstore.NewCodec(keys)
	codec.OnDestroyError(func(projectID string, err error) {
		log.Error().Err(err).Str("project_id", projectID).Msg("data key of an erased project not destroyed; it stays in the key storage until a later read of the erasure destroys it")
	})
	return codec, keys, nil
}

// checkedKeyring returns the keyring on storage after three checks. The
// storage must not be an empty one beside a log with events. A development
// master key is created, when master is nil, only for an unused storage.
// The master key must be the one that wraps the data keys.
func checkedKeyring(ctx context.Context, cfg Config, store eventstore.Store, storage keyring.Storage, master *keyring.MasterKey, log zerolog.Logger) (*keyring.Keyring, error) {
	recordedID, err := keyring.RecordedMasterKeyID(ctx, storage)
	if err == nil {
		err = checkKeyStorageInUse(ctx, cfg, store, recordedID)
	}
	if errors.Is(err, eventstore.ErrUnavailable) {
		// The keyring checks the master key again before it makes the
		// first data key.
		log.Warn().Err(err).Msg("key storage checks postponed: the event store is unavailable")
		return keyring.New(master, storage), nil
	}
	if err != nil {
		return nil, err
	}
	if master == nil {
		if master, err = createDevMasterKey(cfg, recordedID, log); err != nil {
			return nil, err
		}
	}

	keys := keyring.New(master, storage)
	err = keys.CheckMasterKey(ctx)
	switch {
	case errors.Is(err, eventstore.ErrUnavailable):
		log.Warn().Err(err).Msg("master key check postponed: the event store is unavailable")
		return keys, nil
	case errors.Is(err, eventstore.ErrWrongMasterKey):
		return nil, fmt.Errorf("master key %s: %w; pass the master key that wrapped the data keys with --master-key-file (%s) or %s", masterKeySource(cfg), err, envName("master-key-file"), envName("master-key"))
	case err != nil:
		return nil, fmt.Errorf("master key %s: %w", masterKeySource(cfg), err)
	}
	return keys, nil
}

const rotateUsage = `Usage: onboarding rotate-master-key [flags] --new-master-key-file FILE

Rewraps every project's data key, now wrapped by the configured master key
(--master-key-file or ONBOARDING_MASTER_KEY), with the new master key. The
event log is not touched. Stop every server first, on EventStoreDB every
replica. Keys already wrapped by the new key are skipped, so an
interrupted rotation can be run again. Afterwards, start the servers with
the new key.
`

// rotateMasterKey is the rotate-master-key command.
func rotateMasterKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newStoreCommand("rotate-master-key", rotateUsage, getenv, stderr)
	var newKeyFile string
	c.fs.StringVar(&newKeyFile, "new-master-key-file", "", "file with the new master key, as base64 or 64 hex digits, mode 0600")
	if err := c.parse(args); err != nil {
		return err
	}
	if newKeyFile == "" {
		return errors.New("--new-master-key-file is missing; generate a key with 'openssl rand -base64 32 > new.key && chmod 600 new.key'")
	}

	log, _ := newCommandLogger(c.cfg, stderr)
	old, err := loadMasterKey(c.cfg, log)
	if err != nil {
		return err
	}
	if old == nil {
		return fmt.Errorf("no master key configured and no %s in %s; pass the current key with --master-key-file", DevMasterKeyFileName, c.cfg.DataDir)
	}
	next, err := keyring.LoadMasterKeyFile(newKeyFile)
	if err != nil {
		return err
	}
	if next.ID() == old.ID() {
		return fmt.Errorf("the new master key %s is the current one; pass a newly generated key to --new-master-key-file", next.ID())
	}

	storage, err := openRotationStorage(c.cfg, log)
	if err != nil {
		return err
	}
	defer storage.Close()
	n, err := keyring.Rotate(ctx, storage, old, next)
	if err != nil {
		return fmt.Errorf("rotate master key after %d rewrapped data keys: %w", n, err)
	}
	log.Info().Str("old_master_key_id", old.ID()).Str("new_master_key_id", next.ID()).Int("data_keys", n).Msg("master key rotated")
	fmt.Fprintf(stdout, "data keys rewrapped: %d, from master key %s to %s\n", n, old.ID(), next.ID())
	fmt.Fprintf(stdout, "from now on, start the server and the replay and verify commands with --master-key-file %s\n", newKeyFile)
	if !c.cfg.masterKeyConfigured() {
		fmt.Fprintf(stdout, "the old key is still in %s; delete it once the server runs with the new key\n", filepath.Join(c.cfg.DataDir, DevMasterKeyFileName))
	}
	return nil
}

// openRotationStorage opens the key storage to rotate. The embedded key
// file is opened alone, so that the rotation leaves the event store file
// as it is; EventStoreDB key streams need the store's client.
func openRotationStorage(cfg Config, log zerolog.Logger) (keyring.Storage, error) {
	if cfg.Store != "embedded" {
		store, err := openExistingStore(cfg, log)
		if err != nil {
			return nil, err
		}
		return &storeKeyStorage{Storage: store.(*esdb.Store).KeyStorage(), store: store}, nil
	}
	path := filepath.Join(cfg.DataDir, KeyFileName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no data keys in %s: %w; pass the data directory of the server with --data-dir (%s)", cfg.DataDir, err, envName("data-dir"))
	}
	return keyring.OpenFile(path)
}

// storeKeyStorage closes the store whose client its key storage uses.
type storeKeyStorage struct {
	keyring.Storage
	store eventstore.Store
}

func (s *storeKeyStorage) Close() error { return errors.Join(s.Storage.Close(), s.store.Close()) }

// checkKeyStorageInUse rejects a key storage that has never been used
// (recordedID is empty) beside an event log that already contains project
// events. Such a key storage was most likely lost or pointed elsewhere, and
// going on would show every sealed value as erased. --new-key-storage
// accepts it, for a log written before sealing existed.
func checkKeyStorageInUse(ctx context.Context, cfg Config, store eventstore.Store, recordedID string) error {
	if recordedID != "" || cfg.NewKeyStorage {
		return nil
	}
	events, err := store.ReadAll(ctx, eventstore.Start, 1, eventstore.Filter{StreamPrefix: eventstore.StreamPrefix})
	if err != nil || len(events) == 0 {
		return err
	}
	where := filepath.Join(cfg.DataDir, KeyFileName)
	if cfg.Store == "esdb" {
		where = "the " + esdb.DataKeyStreamPrefix + "* streams"
	}
	return fmt.Errorf("the key storage in %s holds no keys, but the event store holds project events whose secrets and contact details need them; restore the key storage from a backup, or pass --new-key-storage (%s) if the log was written before sealing existed", where, envName("new-key-storage"))
}

// masterKeySource names where the master key came from, for errors.
func masterKeySource(cfg Config) string {
	switch {
	case cfg.masterKey != "":
		return "from " + envName("master-key")
	case cfg.MasterKeyFile != "":
		return "from " + cfg.MasterKeyFile
	}
	return "from " + filepath.Join(cfg.DataDir, DevMasterKeyFileName)
}
