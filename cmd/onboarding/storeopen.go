package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/embedded"
)

// storeCommand is the flag set of a command that reads the event store
// offline: replay, verify and export. It takes the store and log flags of
// serve, with the same environment variables, plus flags of its own.
type storeCommand struct {
	name string
	cfg  Config
	fs   *flag.FlagSet
	// envErr is an invalid environment variable, reported by parse.
	envErr error
}

// newStoreCommand returns the flag set of command name with the store and
// log flags registered. usage is printed above the flag list by -h.
func newStoreCommand(name, usage string, getenv func(string) string, stderr io.Writer) *storeCommand {
	c := &storeCommand{name: name, cfg: DefaultConfig()}
	c.fs = flag.NewFlagSet(name, flag.ContinueOnError)
	c.fs.SetOutput(stderr)
	addStoreFlags(c.fs, &c.cfg)
	c.fs.Lookup("data-dir").Usage = "directory of the embedded event store, which must already hold a store (env ONBOARDING_DATA_DIR)"
	// Only the shared flags read ONBOARDING_ variables, so env is applied
	// before the command registers its own flags.
	c.envErr = applyEnv(c.fs, getenv)
	c.fs.Usage = func() {
		fmt.Fprintf(c.fs.Output(), "%s\nFlags:\n", usage)
		c.fs.PrintDefaults()
	}
	return c
}

// parse parses args and checks the shared flags. The command takes no
// positional arguments.
func (c *storeCommand) parse(args []string) error {
	if c.envErr != nil {
		return c.envErr
	}
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; %s takes flags only, see %s -h", c.fs.Arg(0), c.name, c.name)
	}
	// The serve-only fields keep their valid defaults, so this checks the
	// store and log flags.
	return c.cfg.validate()
}

// newCommandLogger returns the logger of an offline command and, when
// stderr is a terminal, the status line that shows progress there. Log
// lines go through the status line, so they do not overwrite it.
func newCommandLogger(cfg Config, stderr io.Writer) (zerolog.Logger, *statusLine) {
	if !isTerminal(stderr) {
		return newLogger(cfg, stderr), nil
	}
	status := &statusLine{out: stderr}
	if cfg.LogFormat == "auto" {
		cfg.LogFormat = "console"
	}
	return newLogger(cfg, status), status
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// openExistingStore opens the configured store as serve does, but fails
// when the embedded data directory holds no store instead of creating an
// empty one there.
func openExistingStore(cfg Config, log zerolog.Logger) (eventstore.Store, error) {
	if cfg.Store == "embedded" {
		path := filepath.Join(cfg.DataDir, embedded.FileName)
		_, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no event store in %s: %s does not exist; pass the data directory of the server with --data-dir (%s)", cfg.DataDir, path, envName("data-dir"))
		}
		if err != nil {
			return nil, fmt.Errorf("open event store: %w", err)
		}
	}
	m := &Main{Config: cfg, log: log}
	return m.openStore()
}
