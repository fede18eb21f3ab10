// Command onboarding serves the onboarding projects GraphQL API, plays
// example runs against it, and replays, verifies and exports the event log.
//
// Usage:
//
//	onboarding [serve] [flags]      serve the API (the default)
//	onboarding play [flags] FILE    play a GraphQL example run against a server
//	onboarding replay [flags]       rebuild every read model from the log
//	onboarding verify [flags]       check hash chains and read models
//	onboarding export [flags]       write project events as JSON Lines
//	onboarding rotate-master-key    rewrap the data keys with a new master key
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/auth"
	"github.com/integrationplatform/onboarding/command"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/eventstore/embedded"
	"github.com/integrationplatform/onboarding/eventstore/esdb"
	"github.com/integrationplatform/onboarding/graph"
	"github.com/integrationplatform/onboarding/readmodel"
	"github.com/integrationplatform/onboarding/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	name := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	var err error
	switch name {
	case "serve":
		err = serve(ctx, args, getenv, stderr)
	case "play":
		err = play(ctx, args, getenv, stdout, stderr)
	case "replay":
		err = replay(ctx, args, getenv, stdout, stderr)
	case "verify":
		err = verify(ctx, args, getenv, stdout, stderr)
	case "export":
		err = export(ctx, args, getenv, stdout, stderr)
	case "token":
		err = mintToken(args, getenv, stdout, stderr)
	case "rotate-master-key":
		err = rotateMasterKey(ctx, args, getenv, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", name, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "onboarding %s: %v\n", name, err)
		return exitStatus(err)
	}
	return 0
}

const usage = `Usage:
  onboarding [serve] [flags]     serve the GraphQL API, on the embedded event store by
                                 default or on EventStoreDB
  onboarding play [flags] FILE   play the GraphQL operations of FILE against a server
  onboarding replay [flags]      rebuild every read model from the log and report the speed
  onboarding verify [flags]      check the hash chains and compare the read models with
                                 a replay of each project's stream
  onboarding verify --file FILE  check the hash chains of an export offline
  onboarding export [flags]      write one project's or every project's events as JSON Lines
  onboarding token [flags]       mint a development token with the HS256 secret
  onboarding rotate-master-key [flags] --new-master-key-file FILE
                                 rewrap every data key with a new master key
  onboarding help                print this text

Run "onboarding COMMAND -h" for the flags of each command, such as
"onboarding serve -h".
`

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseServeFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	m := NewMain(cfg, newLogger(cfg, stderr))
	if err := m.Open(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			m.log.Info().Msg("stopped on SIGINT or SIGTERM before the server was ready")
			return nil
		}
		return err
	}
	<-ctx.Done()
	m.log.Info().Str("shutdown_timeout", cfg.ShutdownTimeout.String()).Msg("shutting down on SIGINT or SIGTERM; open requests get the shutdown timeout to finish")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return m.Close(shutdownCtx)
}

func newLogger(cfg Config, w io.Writer) zerolog.Logger {
	level, _ := zerolog.ParseLevel(cfg.LogLevel)
	console := cfg.LogFormat == "console"
	if f, ok := w.(*os.File); ok && cfg.LogFormat == "auto" {
		console = isatty.IsTerminal(f.Fd())
	}
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// Main is the running program: store, read models, command handler and
// server. End-to-end tests use it as the binary does.
type Main struct {
	Config Config

	log       zerolog.Logger
	store     eventstore.Store
	keys      io.Closer
	models    *readmodel.Models
	projector *readmodel.Projector
	server    *server.Server

	stopProjector context.CancelFunc
	projectorDone chan error
}

// NewMain returns a program with cfg that logs to log.
func NewMain(cfg Config, log zerolog.Logger) *Main {
	return &Main{Config: cfg, log: log}
}

// Open opens the store, rebuilds the read models from the log and starts
// serving.
func (m *Main) Open(ctx context.Context) error {
	// Binding first reports a taken or invalid address before a long rebuild.
	ln, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Addr, err)
	}
	if err := m.open(ctx, ln); err != nil {
		ln.Close()
		return err
	}
	return nil
}

func (m *Main) open(ctx context.Context, ln net.Listener) error {
	if m.Config.Auth.Enabled() {
		verifier, err := auth.NewVerifier(m.Config.Auth)
		if err != nil {
			return fmt.Errorf("authentication: %w", err)
		}
		m.Config.Server.Verifier = verifier
		m.log.Info().Str("issuer", m.Config.Auth.Issuer).Str("audience", m.Config.Auth.Audience).Msg("bearer-token authentication on")
	} else {
		m.log.Warn().Str("addr", m.Config.Addr).Msg("authentication is off: every caller on this loopback address may use every operation")
	}
	store, err := m.openStore()
	if err != nil {
		return err
	}
	m.store = store
	codec, keys, err := openCodec(ctx, m.Config, store, true, m.log)
	if err != nil {
		_ = m.close(context.Background())
		return fmt.Errorf("keyring: %w", err)
	}
	m.keys = keys

	m.models = readmodel.NewModels()
	m.projector = readmodel.NewProjector(store, codec, m.models, m.log)
	projectorCtx, stop := context.WithCancel(context.Background())
	m.stopProjector = stop
	m.projectorDone = make(chan error, 1)
	go func() { m.projectorDone <- m.projector.Run(projectorCtx) }()

	select {
	case <-m.projector.CaughtUp():
	case err := <-m.projectorDone:
		m.projectorDone <- err
		_ = m.close(context.Background())
		return fmt.Errorf("rebuild read models: %w", err)
	case <-ctx.Done():
		_ = m.close(context.Background())
		return ctx.Err()
	}

	resolver := &graph.Resolver{
		Commands: command.NewHandler(store, codec, m.models, m.log, time.Now),
		Models:   m.models,
		Store:    store,
		Codec:    codec,
		Log:      m.log,
	}
	m.server = server.New(m.Config.Server, resolver, m.ready, m.models.Feed().Close, m.log)
	m.server.Serve(ln)
	return nil
}

// openStore opens the configured event store.
func (m *Main) openStore() (eventstore.Store, error) {
	if m.Config.Store == "esdb" {
		store, err := esdb.Open(esdb.Options{ConnectionString: m.Config.ESDBURL, Log: m.log})
		if err != nil {
			return nil, err
		}
		m.log.Info().Str("store", "esdb").Msg("EventStoreDB event store configured")
		return store, nil
	}
	store, err := embedded.Open(m.Config.DataDir, embedded.Options{})
	if err != nil {
		return nil, err
	}
	m.log.Info().Str("store", "embedded").Str("data_dir", m.Config.DataDir).Msg("embedded event store opened")
	return store, nil
}

// ready reports whether the read models are caught up and the store
// responds.
func (m *Main) ready() bool {
	if !m.projector.Ready() || m.projector.Stalled() {
		return false
	}
	pinger, ok := m.store.(eventstore.Pinger)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return pinger.Ping(ctx) == nil
}

// Addr returns the address the server listens on.
func (m *Main) Addr() string { return m.server.Addr() }

// Close shuts the server down gracefully, stops the projector and closes
// the store.
func (m *Main) Close(ctx context.Context) error {
	var errs []error
	if m.server != nil {
		errs = append(errs, m.server.Shutdown(ctx))
	}
	errs = append(errs, m.close(ctx))
	err := errors.Join(errs...)
	if err != nil {
		m.log.Error().Err(err).Msg("shutdown failed")
		return err
	}
	m.log.Info().Msg("stopped")
	return nil
}

func (m *Main) close(ctx context.Context) error {
	var errs []error
	if m.stopProjector != nil {
		m.stopProjector()
		select {
		case err := <-m.projectorDone:
			errs = append(errs, err)
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("projector did not stop: %w", ctx.Err()))
		}
	}
	if m.keys != nil {
		errs = append(errs, m.keys.Close())
	}
	if m.store != nil {
		errs = append(errs, m.store.Close())
	}
	return errors.Join(errs...)
}
