package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// echoServerCommand is the first argument that makes the tool run as the
// reference echo server, in a child process of its own so that its memory
// can be read apart from the tool's.
const echoServerCommand = "echo-server"

// echoMessageSize is the size of an echo message: a send time in Unix
// nanoseconds, padded to about the size of a projectEvents next message.
const echoMessageSize = 160

// runEchoServer serves WebSocket echo connections on a free loopback port
// and writes "listening ADDR" to out, until its standard input closes.
func runEchoServer(out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	server := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer conn.CloseNow()
			for {
				kind, data, err := conn.Read(r.Context())
				if err != nil {
					return
				}
				if err := conn.Write(r.Context(), kind, data); err != nil {
					return
				}
			}
		}),
	}
	go func() {
		// The parent closes the pipe of standard input to stop the server,
		// and so does its exit.
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = server.Close()
	}()
	fmt.Fprintf(out, "listening %s\n", ln.Addr())
	if err := server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// echoServer is the running child process of the reference echo server.
type echoServer struct {
	cmd   *exec.Cmd
	stdin io.Closer
	addr  string
}

func startEchoServer(ctx context.Context) (*echoServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable for the echo server: %w", err)
	}
	cmd := exec.CommandContext(ctx, self, echoServerCommand)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start echo server %s: %w", self, err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("echo server did not report its address: %q, %v", line, err)
	}
	return &echoServer{cmd: cmd, stdin: stdin, addr: addr}, nil
}

func (e *echoServer) stop() error {
	_ = e.stdin.Close()
	return e.cmd.Wait()
}

// echoClient is one connection to the echo server.
type echoClient struct {
	conn      *websocket.Conn
	latencies []time.Duration
	received  atomic.Int64
	err       error
}

func runEcho(ctx context.Context, o options, out io.Writer) (*result, error) {
	server, err := startEchoServer(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := server.stop(); err != nil {
			fmt.Fprintf(out, "echo: stop echo server: %v\n", err)
		}
	}()
	pid := server.cmd.Process.Pid

	r := &result{name: "reference: plain WebSocket echo (github.com/coder/websocket)", connections: o.subscribers}
	time.Sleep(500 * time.Millisecond)
	if err := readRSS(pid, &r.rssBefore); err != nil {
		return nil, err
	}
	connStart := time.Now()
	clients, err := connectEchoClients(ctx, o, "ws://"+server.addr+"/")
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.conn.CloseNow()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	r.connectTime = time.Since(connStart)
	fmt.Fprintf(out, "echo: %d connections opened in %s\n", len(clients), r.connectTime.Round(time.Millisecond))

	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	var readers sync.WaitGroup
	for _, c := range clients {
		readers.Add(1)
		go func() {
			defer readers.Done()
			c.read(readCtx)
		}()
	}
	time.Sleep(2 * time.Second)
	if err := readRSS(pid, &r.rssAfter); err != nil {
		return nil, err
	}

	meter, err := startCPUMeter(pid)
	if err != nil {
		return nil, err
	}
	sent, err := sendEchoes(ctx, o, clients)
	if err != nil {
		return nil, err
	}
	if err := meter.stop(r); err != nil {
		return nil, err
	}
	r.sent = int(sent)
	r.expected = sent
	waitForDeliveries(o.drain, r.expected, func() int64 { return echoesReceived(clients) })
	stopReading()
	for _, c := range clients {
		c.conn.CloseNow()
	}
	readers.Wait()

	var logs latencyLog
	for _, c := range clients {
		logs.add(c.latencies)
		if c.err != nil {
			fmt.Fprintf(out, "echo: connection ended early: %v\n", c.err)
		}
	}
	r.latencies = logs.values
	r.received = echoesReceived(clients)
	r.lost = r.expected - r.received
	return r, nil
}

func echoesReceived(clients []*echoClient) int64 {
	var n int64
	for _, c := range clients {
		n += c.received.Load()
	}
	return n
}

func connectEchoClients(ctx context.Context, o options, url string) ([]*echoClient, error) {
	clients := make([]*echoClient, o.subscribers)
	errs := make(chan error, o.subscribers)
	slots := make(chan struct{}, o.dialers)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			conn, _, err := websocket.Dial(dialCtx, url, nil)
			if err != nil {
				errs <- fmt.Errorf("echo connection %d: dial %s: %w", i, url, err)
				return
			}
			clients[i] = &echoClient{conn: conn}
		}()
	}
	wg.Wait()
	close(errs)
	return clients, <-errs
}

// sendEchoes sends o.rate messages per second for o.duration, one
// connection after another, each carrying its send time.
func sendEchoes(ctx context.Context, o options, clients []*echoClient) (int64, error) {
	var sent atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	ticker := time.NewTicker(time.Second / time.Duration(o.rate))
	defer ticker.Stop()
	stop := time.Now().Add(o.duration)
	for i := 0; time.Now().Before(stop); i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return sent.Load(), ctx.Err()
		case <-ticker.C:
		}
		c := clients[i%len(clients)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			message := make([]byte, echoMessageSize)
			binary.BigEndian.PutUint64(message, uint64(time.Now().UnixNano()))
			if err := c.conn.Write(ctx, websocket.MessageBinary, message); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("send echo: %w", err)
				}
				mu.Unlock()
				return
			}
			sent.Add(1)
		}()
	}
	wg.Wait()
	return sent.Load(), firstErr
}

func (c *echoClient) read(ctx context.Context) {
	for {
		_, data, err := c.conn.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.err = err
			}
			return
		}
		received := time.Now()
		if len(data) < 8 {
			c.err = fmt.Errorf("echo of %d bytes, want %d", len(data), echoMessageSize)
			return
		}
		sentAt := time.Unix(0, int64(binary.BigEndian.Uint64(data)))
		c.latencies = append(c.latencies, received.Sub(sentAt))
		c.received.Add(1)
	}
}
