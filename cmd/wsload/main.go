// Command wsload measures GraphQL subscriptions under load. It opens many
// WebSocket subscribers (graphql-transport-ws, projectEvents of one of
// several projects each) against a running onboarding server and drives
// mutations at a fixed rate over HTTP. It reports the delivery latency from
// the event's recordedAt to its arrival at the client, the events lost, and
// the server's memory per connection and CPU.
//
// As a reference it opens the same number of plain WebSocket echo
// connections, without GraphQL, to an echo server (github.com/coder/websocket)
// that it starts itself as a child process, and reports that server's
// memory per connection and the echo round-trip latency.
//
// Every connection stays on a loopback address, and the tool rejects any
// other target. Each connection takes a file descriptor in the tool and one
// in the server. The tool raises its own soft open-file limit to the hard
// limit; if the hard limit is lower than the number of connections plus a
// few hundred, raise it in the shell first (ulimit -n) for the tool and for
// the server.
//
//	go build -o /tmp/onboarding ./cmd/onboarding && go build -o /tmp/wsload ./cmd/wsload
//	/tmp/onboarding serve --data-dir /tmp/wsbench --addr 127.0.0.1:18090 --log-level warn &
//	/tmp/wsload -url http://127.0.0.1:18090/graphql -server-pid $! -subscribers 1000 -rate 100 -duration 30s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the command-line settings of one run.
type options struct {
	url         string
	mode        string
	subscribers int
	projects    int
	rate        int
	duration    time.Duration
	drain       time.Duration
	serverPID   int
	dialers     int
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == echoServerCommand {
		if err := runEchoServer(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "wsload echo server:", err)
			os.Exit(1)
		}
		return
	}

	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080/graphql", "GraphQL endpoint of the running server; must be a loopback address")
	flag.StringVar(&o.mode, "mode", "both", "graphql (subscribers of the server), echo (the reference echo server) or both, one after the other")
	flag.IntVar(&o.subscribers, "subscribers", 1000, "number of concurrent WebSocket connections, each with one subscription")
	flag.IntVar(&o.projects, "projects", 100, "number of projects; subscriber i watches project i modulo this")
	flag.IntVar(&o.rate, "rate", 100, "mutations (or echo messages) per second, spread over the projects (or connections)")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "time the mutations (or echo messages) are sent")
	flag.DurationVar(&o.drain, "drain", 5*time.Second, "time to wait after the last mutation for events still on their way")
	flag.IntVar(&o.serverPID, "server-pid", 0, "process id of the server, to read its memory (VmRSS) and CPU time from /proc; 0 skips these figures")
	flag.IntVar(&o.dialers, "dialers", 200, "connections opened at the same time while connecting")
	flag.Parse()

	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		os.Exit(1)
	}
}

func (o options) check() error {
	if err := checkLoopback(o.url); err != nil {
		return err
	}
	switch {
	case o.mode != "graphql" && o.mode != "echo" && o.mode != "both":
		return fmt.Errorf("invalid -mode %q: use graphql, echo or both", o.mode)
	case o.subscribers <= 0:
		return fmt.Errorf("invalid -subscribers %d: must be positive", o.subscribers)
	case o.projects <= 0 || o.projects > o.subscribers:
		return fmt.Errorf("invalid -projects %d: must be between 1 and -subscribers (%d)", o.projects, o.subscribers)
	case o.rate <= 0:
		return fmt.Errorf("invalid -rate %d: must be positive", o.rate)
	case o.duration <= 0:
		return fmt.Errorf("invalid -duration %s: must be positive", o.duration)
	case o.dialers <= 0:
		return fmt.Errorf("invalid -dialers %d: must be positive", o.dialers)
	}
	return nil
}

// checkLoopback rejects a URL whose host is not a loopback address, so that
// the load never leaves the machine.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid -url %q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("invalid -url %q: the scheme must be http", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("invalid -url %q: the host must be a loopback address such as 127.0.0.1", raw)
	}
	return nil
}

// raiseOpenFileLimit sets the soft limit of open files to the hard limit
// and fails when the hard limit leaves too few for need connections.
func raiseOpenFileLimit(need int) error {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		return fmt.Errorf("read open-file limit: %w", err)
	}
	if limit.Cur < limit.Max {
		limit.Cur = limit.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
			return fmt.Errorf("raise open-file limit to %d: %w", limit.Max, err)
		}
	}
	// The tool needs one descriptor per connection plus some for HTTP
	// clients, the child process and the runtime.
	if want := uint64(need) + 256; limit.Cur < want {
		return fmt.Errorf("open-file limit %d is below the %d that %d connections need; raise it with ulimit -n (the server needs as many)", limit.Cur, want, need)
	}
	return nil
}

func run(ctx context.Context, o options, out io.Writer) error {
	if err := raiseOpenFileLimit(o.subscribers); err != nil {
		return err
	}
	fmt.Fprintf(out, "wsload: %d connections, %d projects, %d messages/s for %s, started %s\n",
		o.subscribers, o.projects, o.rate, o.duration, time.Now().UTC().Format(time.RFC3339))

	var graphqlResult, echoResult *result
	if o.mode == "graphql" || o.mode == "both" {
		r, err := runGraphQL(ctx, o, out)
		if err != nil {
			return fmt.Errorf("graphql subscribers: %w", err)
		}
		graphqlResult = r
		r.print(out)
	}
	if o.mode == "echo" || o.mode == "both" {
		r, err := runEcho(ctx, o, out)
		if err != nil {
			return fmt.Errorf("echo reference: %w", err)
		}
		echoResult = r
		r.print(out)
	}
	if graphqlResult != nil && echoResult != nil {
		printRatios(out, graphqlResult, echoResult)
	}
	if graphqlResult != nil && graphqlResult.lost != 0 {
		return errors.New("events were lost: expected and received counts differ")
	}
	return nil
}
