package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestServeFlagsDefaults(t *testing.T) {
	cfg, err := parseServeFlags(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8080" {
		t.Errorf("default addr = %q, want a loopback address", cfg.Addr)
	}
	if cfg.DataDir != "data" {
		t.Errorf("default data dir = %q, want data", cfg.DataDir)
	}
}

func TestServeFlagsEnvironmentAndFlags(t *testing.T) {
	cfg, err := parseServeFlags([]string{"--max-depth", "9"}, env(map[string]string{
		"ONBOARDING_MAX_DEPTH":       "7",
		"ONBOARDING_LOG_LEVEL":       "DEBUG",
		"ONBOARDING_KEEPALIVE":       "3s",
		"ONBOARDING_ALLOWED_ORIGINS": "https://app.example.com,*.example.org",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.MaxDepth != 9 {
		t.Errorf("max depth = %d, want the flag's 9 over the environment's 7", cfg.Server.MaxDepth)
	}
	if cfg.LogLevel != "debug" {
		t.Errorf("log level = %q, want debug", cfg.LogLevel)
	}
	if cfg.Server.KeepAlive != 3*time.Second {
		t.Errorf("keepalive = %s, want 3s", cfg.Server.KeepAlive)
	}
	if len(cfg.Server.AllowedOrigins) != 2 {
		t.Errorf("allowed origins = %q, want two", cfg.Server.AllowedOrigins)
	}
}

func TestServeFlagsRejectBadValues(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		mention string
	}{
		{"log level", []string{"--log-level", "loud"}, nil, "ONBOARDING_LOG_LEVEL"},
		{"log format", []string{"--log-format", "xml"}, nil, "json, console or auto"},
		{"addr without port", []string{"--addr", "127.0.0.1"}, nil, "host:port"},
		{"zero shutdown timeout", []string{"--shutdown-timeout", "0s"}, nil, "--shutdown-timeout"},
		{"negative cache", []string{"--query-cache-size", "-1"}, nil, "--query-cache-size"},
		{"depth", []string{"--max-depth", "0"}, nil, "--max-depth"},
		{"environment duration", nil, map[string]string{"ONBOARDING_KEEPALIVE": "10"}, "10s"},
		{"extra argument", []string{"now"}, nil, "now"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServeFlags(tc.args, env(tc.env), io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

// A taken address is reported before the store is opened, so a large log
// is not rebuilt in vain and the data directory is not locked.
func TestAddressInUseBeforeStore(t *testing.T) {
	first := startServer(t, t.TempDir())
	cfg := DefaultConfig()
	cfg.Addr = first.Addr()
	cfg.DataDir = filepath.Join(t.TempDir(), "second")

	err := NewMain(cfg, zerolog.Nop()).Open(context.Background())

	if err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("open on a taken address returned %v, want a listen error", err)
	}
	if _, statErr := os.Stat(cfg.DataDir); !os.IsNotExist(statErr) {
		t.Errorf("data directory was created before the address check: %v", statErr)
	}
}
