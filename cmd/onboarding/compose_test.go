package main

import (
	"context"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
)

// TestComposeFile checks docker-compose.yml with the Compose
// specification's own loader and schema, since no Docker engine runs in
// CI, and checks that the API is wired to the database.
func TestComposeFile(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"../../docker-compose.yml"}, cli.WithWorkingDirectory("../.."), cli.WithName("onboarding"),
		cli.WithEnv([]string{"ONBOARDING_JWT_SECRET=" + testSecret, "ONBOARDING_MASTER_KEY=" + testMasterKey}))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml is invalid: %v", err)
	}
	db, err := project.GetService("eventstoredb")
	if err != nil {
		t.Fatal(err)
	}
	if db.HealthCheck == nil || len(db.HealthCheck.Test) == 0 {
		t.Error("eventstoredb has no health check")
	}
	api, err := project.GetService("api")
	if err != nil {
		t.Fatal(err)
	}
	if dep, ok := api.DependsOn["eventstoredb"]; !ok || dep.Condition != "service_healthy" {
		t.Errorf("api depends on eventstoredb with %+v, want condition service_healthy", dep)
	}
	if api.Build == nil {
		t.Error("api is not built from the Dockerfile")
	}
	for _, key := range []string{"ONBOARDING_STORE", "ONBOARDING_ESDB_URL", "ONBOARDING_MASTER_KEY"} {
		if v := api.Environment[key]; v == nil || *v == "" {
			t.Errorf("api environment lacks %s", key)
		}
	}
	cfg, err := parseServeFlags(nil, func(name string) string {
		if v := api.Environment[name]; v != nil {
			return *v
		}
		return ""
	}, nil)
	if err != nil {
		t.Errorf("the api's environment is not a valid configuration: %v", err)
	}
	if cfg.Store != "esdb" {
		t.Errorf("the api's store = %q, want esdb", cfg.Store)
	}
}
