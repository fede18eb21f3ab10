package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// nodeTestDir holds the Node client tests and their package.json.
const nodeTestDir = "../../test/node"

// nodeInitTimeout is the WebSocket init timeout of the server under the
// Node tests, short so that the 4408 test does not wait the default 10 s.
const nodeInitTimeout = time.Second

// TestNodeClients runs the tests in test/node with `node --test` against a
// real server: the graphql-ws and graphql-sse npm clients, and the close
// codes of the graphql-transport-ws protocol. It skips when node or the
// installed packages are missing; `npm ci` in test/node installs them, and
// .ci/run does so before it runs the tests.
func TestNodeClients(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; install Node.js 20 or newer to run the graphql-ws and graphql-sse client tests")
	}
	if _, err := os.Stat(filepath.Join(nodeTestDir, "node_modules")); err != nil {
		t.Skip("test/node/node_modules is missing; run `npm ci` in test/node to run the graphql-ws and graphql-sse client tests")
	}

	s := startServer(t, t.TempDir(), func(c *Config) { c.Server.InitTimeout = nodeInitTimeout })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec")
	cmd.Dir = nodeTestDir
	cmd.Env = append(os.Environ(),
		"ONBOARDING_TEST_URL="+s.URL,
		"ONBOARDING_TEST_INIT_TIMEOUT_MS="+strconv.FormatInt(nodeInitTimeout.Milliseconds(), 10),
		"NO_COLOR=1",
	)
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test in test/node failed: %v\n%s", err, output)
	}
	t.Logf("node --test in test/node:\n%s", output)
}
