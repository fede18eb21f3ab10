package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/integrationplatform/onboarding/auth"
)

// mintToken prints an HS256 token signed with the configured secret, for
// local development with authentication on.
func mintToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addAuthFlags(fs, &cfg)
	subject := fs.String("sub", "dev", "subject (user id) of the token")
	role := fs.String("role", auth.RoleEngineer, "role: customer, engineer, auditor or admin")
	customer := fs.String("customer", "", "customer id a customer token is bound to")
	ttl := fs.Duration("ttl", 8*time.Hour, "time until the token expires")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: onboarding token [flags]\n\nPrints a token signed with --jwt-secret, for local development.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := applyEnv(fs, getenv); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Auth.HS256Secret = []byte(cfg.jwtHMAC)
	token, err := auth.Mint(cfg.Auth, *subject, *role, *customer, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	return nil
}
