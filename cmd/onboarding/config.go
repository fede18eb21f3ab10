package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/integrationplatform/onboarding/auth"
	"github.com/integrationplatform/onboarding/server"
)

// Config is the configuration of the serve command. Every field has a flag
// and an environment variable; a flag wins over the variable.
type Config struct {
	Addr string
	// Store is "embedded" or "esdb".
	Store string
	// ESDBURL is the connection string of EventStoreDB or KurrentDB.
	ESDBURL         string
	DataDir         string
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	Server          server.Config
	// Auth configures bearer-token authentication; it is off when neither
	// a secret nor a key set is given.
	Auth    auth.Config
	jwtHMAC string
	// MasterKeyFile is the file of the master key that wraps data keys.
	MasterKeyFile string
	// masterKey is the master key given in the environment.
	masterKey string
	// NewKeyStorage accepts an empty key storage beside a log with events.
	NewKeyStorage bool
}

// DefaultConfig returns the configuration of a run without flags.
func DefaultConfig() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		Store:           "embedded",
		DataDir:         "data",
		LogLevel:        "info",
		LogFormat:       "auto",
		ShutdownTimeout: 15 * time.Second,
		Server:          server.DefaultConfig(),
	}
}

// envPrefix starts every environment variable the program reads.
const envPrefix = "ONBOARDING_"

// parseServeFlags reads the serve command's configuration from args and
// the environment.
func parseServeFlags(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var origins string
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address, host:port (env ONBOARDING_ADDR)")
	addStoreFlags(fs, &cfg)
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "time running requests get to finish on SIGINT or SIGTERM (env ONBOARDING_SHUTDOWN_TIMEOUT)")
	fs.Int64Var(&cfg.Server.MaxBodyBytes, "max-body-bytes", cfg.Server.MaxBodyBytes, "largest request body accepted, in bytes (env ONBOARDING_MAX_BODY_BYTES)")
	fs.IntVar(&cfg.Server.MaxComplexity, "max-complexity", cfg.Server.MaxComplexity, "largest query complexity accepted, one per field (env ONBOARDING_MAX_COMPLEXITY)")
	fs.IntVar(&cfg.Server.MaxAliases, "max-aliases", cfg.Server.MaxAliases, "largest number of aliased fields in one operation (env ONBOARDING_MAX_ALIASES)")
	fs.IntVar(&cfg.Server.MaxSubscriptionsPerConnection, "max-subscriptions-per-connection", cfg.Server.MaxSubscriptionsPerConnection, "largest number of subscriptions running on one WebSocket connection (env ONBOARDING_MAX_SUBSCRIPTIONS_PER_CONNECTION)")
	fs.IntVar(&cfg.Server.MaxConnectionsPerToken, "max-connections-per-token", cfg.Server.MaxConnectionsPerToken, "largest number of WebSocket connections open at once with one bearer token (env ONBOARDING_MAX_CONNECTIONS_PER_TOKEN)")
	fs.IntVar(&cfg.Server.MaxDepth, "max-depth", cfg.Server.MaxDepth, "deepest nesting of fields accepted (env ONBOARDING_MAX_DEPTH)")
	fs.BoolVar(&cfg.Server.Introspection, "introspection", cfg.Server.Introspection, "answer schema introspection queries (env ONBOARDING_INTROSPECTION)")
	fs.IntVar(&cfg.Server.QueryCacheSize, "query-cache-size", cfg.Server.QueryCacheSize, "number of parsed queries kept in memory (env ONBOARDING_QUERY_CACHE_SIZE)")
	fs.DurationVar(&cfg.Server.KeepAlive, "keepalive", cfg.Server.KeepAlive, "interval of WebSocket keepalive pings (env ONBOARDING_KEEPALIVE)")
	addAuthFlags(fs, &cfg)
	fs.StringVar(&origins, "allowed-origins", "", "comma-separated browser origins allowed for CORS and WebSocket, as host patterns (app.example.com, *.example.com) or full origins (https://app.example.com) (env ONBOARDING_ALLOWED_ORIGINS)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: onboarding serve [flags]\n\nServes the GraphQL API on the embedded event store or on EventStoreDB.\n\nFlags:\n")
		fs.PrintDefaults()
	}

	if err := applyEnv(fs, getenv); err != nil {
		return cfg, err
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q; serve takes flags only", fs.Arg(0))
	}
	if origins != "" {
		cfg.Server.AllowedOrigins = strings.Split(origins, ",")
	}
	cfg.Auth.HS256Secret = []byte(cfg.jwtHMAC)
	if err := cfg.validate(); err != nil {
		return cfg, err
	}
	if err := cfg.checkOpenAddress(); err != nil {
		return cfg, err
	}
	return cfg, cfg.checkMasterKey()
}

// checkOpenAddress refuses to serve without authentication on an address
// other hosts can reach.
func (c *Config) checkOpenAddress() error {
	if c.Auth.Enabled() {
		if len(c.Auth.HS256Secret) > 0 && len(c.Auth.HS256Secret) < 32 {
			return fmt.Errorf("--jwt-secret (%s) is %d bytes; use at least 32 random bytes", envName("jwt-secret"), len(c.Auth.HS256Secret))
		}
		return nil
	}
	if !isLoopback(c.Addr) {
		return fmt.Errorf("--addr %s is not a loopback address and authentication is off; set --jwt-secret or --jwks-file, or listen on 127.0.0.1", c.Addr)
	}
	return nil
}

// checkMasterKey refuses to serve with the development master key, which
// sits beside the data it protects, on an address other hosts can reach.
func (c *Config) checkMasterKey() error {
	if c.masterKeyConfigured() || isLoopback(c.Addr) {
		return nil
	}
	return fmt.Errorf("--addr %s is not a loopback address and no master key is configured; set --master-key-file (%s) or %s, or listen on 127.0.0.1", c.Addr, envName("master-key-file"), envName("master-key"))
}

func isLoopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// addStoreFlags registers the flags that choose and open the event store
// and set up logging, which serve shares with the replay, verify and export
// commands.
// addAuthFlags adds the flags of token verification and minting.
func addAuthFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.jwtHMAC, "jwt-secret", "", "HS256 secret that verifies bearer tokens and signs development tokens; authentication is on when this or --jwks-file is set (env ONBOARDING_JWT_SECRET)")
	fs.StringVar(&cfg.Auth.JWKSFile, "jwks-file", "", "local JSON Web Key Set file with the RSA and EC public keys of RS256 and ES256 tokens (env ONBOARDING_JWKS_FILE)")
	fs.StringVar(&cfg.Auth.Issuer, "jwt-issuer", "onboarding-dev", "required iss claim of tokens (env ONBOARDING_JWT_ISSUER)")
	fs.StringVar(&cfg.Auth.Audience, "jwt-audience", "onboarding-api", "required aud claim of tokens (env ONBOARDING_JWT_AUDIENCE)")
	fs.DurationVar(&cfg.Auth.ClockSkew, "jwt-clock-skew", 30*time.Second, "leeway for the exp and nbf claims (env ONBOARDING_JWT_CLOCK_SKEW)")
}

func addStoreFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.Store, "store", cfg.Store, "event store: embedded (a bbolt file in --data-dir) or esdb (EventStoreDB or KurrentDB at --esdb-url) (env ONBOARDING_STORE)")
	fs.StringVar(&cfg.ESDBURL, "esdb-url", cfg.ESDBURL, "EventStoreDB or KurrentDB connection string, such as esdb://127.0.0.1:2113?tls=false or esdb+discover://node1:2113,node2:2113,node3:2113 (env ONBOARDING_ESDB_URL)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the embedded event store, created if missing (env ONBOARDING_DATA_DIR)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error (env ONBOARDING_LOG_LEVEL)")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: json, console, or auto for console on a terminal and json otherwise (env ONBOARDING_LOG_FORMAT)")
	addKeyFlags(fs, cfg)
}

// applyEnv sets each flag from its ONBOARDING_ variable, if set.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		v := getenv(name)
		if v == "" || err != nil {
			return
		}
		if setErr := fs.Set(f.Name, v); setErr != nil {
			err = fmt.Errorf("environment variable %s=%q is invalid; use a value like the default %q (%s)", name, v, f.DefValue, f.Usage)
		}
	})
	return err
}

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c *Config) validate() error {
	c.LogLevel = strings.ToLower(c.LogLevel)
	c.LogFormat = strings.ToLower(c.LogFormat)
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level (%s) %q is unknown; use debug, info, warn or error", envName("log-level"), c.LogLevel)
	}
	switch c.LogFormat {
	case "json", "console", "auto":
	default:
		return fmt.Errorf("--log-format (%s) %q is unknown; use json, console or auto", envName("log-format"), c.LogFormat)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--addr (%s) %q is not a host:port address: %v; use for example 127.0.0.1:8080", envName("addr"), c.Addr, err)
	}
	if c.MasterKeyFile != "" && c.masterKey != "" {
		return fmt.Errorf("both --master-key-file (%s) and --master-key (%s) are set; set only one", envName("master-key-file"), envName("master-key"))
	}
	switch c.Store {
	case "embedded":
	case "esdb":
		if c.ESDBURL == "" {
			return fmt.Errorf("--store esdb needs --esdb-url (%s), such as esdb://127.0.0.1:2113?tls=false", envName("esdb-url"))
		}
		// Every replica reads the data keys that the others wrapped, so a
		// key file made in one replica's data directory cannot serve.
		if !c.masterKeyConfigured() {
			return fmt.Errorf("--store esdb needs a master key shared by every replica: set --master-key-file (%s) or %s; generate one with 'openssl rand -base64 32'", envName("master-key-file"), envName("master-key"))
		}
	default:
		return fmt.Errorf("--store (%s) %q is unknown; use embedded or esdb", envName("store"), c.Store)
	}
	checks := []struct {
		flag string
		ok   bool
		want string
	}{
		{"data-dir", c.DataDir != "", "a directory path"},
		{"shutdown-timeout", c.ShutdownTimeout > 0, "a positive duration such as 15s"},
		{"max-body-bytes", c.Server.MaxBodyBytes >= 1024, "at least 1024"},
		{"max-depth", c.Server.MaxDepth >= 2, "at least 2"},
		{"max-complexity", c.Server.MaxComplexity >= 10, "at least 10"},
		{"query-cache-size", c.Server.QueryCacheSize >= 1, "at least 1"},
		{"keepalive", c.Server.KeepAlive > 0, "a positive duration such as 10s"},
		{"max-aliases", c.Server.MaxAliases >= 1, "at least 1"},
		{"max-connections-per-token", c.Server.MaxConnectionsPerToken >= 1, "at least 1"},
		{"max-subscriptions-per-connection", c.Server.MaxSubscriptionsPerConnection >= 1, "at least 1"},
	}
	for _, check := range checks {
		if !check.ok {
			return fmt.Errorf("--%s (%s) is out of range; use %s", check.flag, envName(check.flag), check.want)
		}
	}
	return nil
}
