package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

const eventsSubscription = `subscription($id: ID) { projectEvents(projectId: $id) { projectId streamVersion recordedAt } }`

// wsMessage is a graphql-transport-ws message.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// eventResult is the payload of a next message of eventsSubscription.
type eventResult struct {
	Data struct {
		ProjectEvents struct {
			ProjectID     string    `json:"projectId"`
			StreamVersion int64     `json:"streamVersion"`
			RecordedAt    time.Time `json:"recordedAt"`
		} `json:"projectEvents"`
	} `json:"data"`
	Errors json.RawMessage `json:"errors"`
}

// subscriber is one WebSocket connection with one projectEvents
// subscription.
type subscriber struct {
	conn    *websocket.Conn
	project int
	// warm is set once the first event arrived, which shows that the
	// server registered the subscription.
	warm atomic.Bool
	// from is the first stream version counted; events before it are
	// warm-up events. It is set before the measured mutations start.
	from     atomic.Int64
	received atomic.Int64
	// latencies are only touched by the subscriber's read goroutine until
	// it ends.
	latencies []time.Duration
	err       error
}

func runGraphQL(ctx context.Context, o options, out io.Writer) (*result, error) {
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64},
	}
	projects := make([]string, o.projects)
	for i := range projects {
		id, err := startProject(ctx, client, o.url, i)
		if err != nil {
			return nil, err
		}
		projects[i] = id
	}

	r := &result{name: "graphql subscribers (projectEvents over graphql-transport-ws)", connections: o.subscribers}
	if err := readRSS(o.serverPID, &r.rssBefore); err != nil {
		return nil, err
	}

	connStart := time.Now()
	subs, err := connectSubscribers(ctx, o, projects)
	defer func() {
		for _, s := range subs {
			if s != nil {
				s.conn.CloseNow()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	r.connectTime = time.Since(connStart)
	fmt.Fprintf(out, "graphql: %d subscribers connected in %s, warming up\n", len(subs), r.connectTime.Round(time.Millisecond))

	var readers sync.WaitGroup
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	for _, s := range subs {
		readers.Add(1)
		go func() {
			defer readers.Done()
			s.read(readCtx)
		}()
	}

	versions, err := warmUp(ctx, client, o.url, projects, subs)
	if err != nil {
		return nil, err
	}
	// Memory once every connection is open and subscribed, before the
	// measured mutations.
	time.Sleep(2 * time.Second)
	if err := readRSS(o.serverPID, &r.rssAfter); err != nil {
		return nil, err
	}
	for _, s := range subs {
		s.from.Store(versions[s.project] + 1)
	}

	meter, err := startCPUMeter(o.serverPID)
	if err != nil {
		return nil, err
	}
	sent, err := driveMutations(ctx, client, o, projects)
	if err != nil {
		return nil, err
	}
	if err := meter.stop(r); err != nil {
		return nil, err
	}
	r.sent = int(sent.total)

	// Every subscriber of a project expects every measured mutation of it.
	for _, s := range subs {
		r.expected += sent.perProject[s.project]
	}
	waitForDeliveries(o.drain, r.expected, func() int64 { return receivedTotal(subs) })
	stopReading()
	for _, s := range subs {
		s.conn.CloseNow()
	}
	readers.Wait()

	var logs latencyLog
	for _, s := range subs {
		logs.add(s.latencies)
		if s.err != nil && !errors.Is(s.err, context.Canceled) {
			fmt.Fprintf(out, "graphql: subscriber of project %s ended early: %v\n", projects[s.project], s.err)
		}
	}
	r.latencies = logs.values
	r.received = receivedTotal(subs)
	r.lost = r.expected - r.received
	return r, nil
}

func readRSS(pid int, into *int64) error {
	if pid == 0 {
		return nil
	}
	rss, err := processRSS(pid)
	if err != nil {
		return err
	}
	*into = rss
	return nil
}

func receivedTotal(subs []*subscriber) int64 {
	var n int64
	for _, s := range subs {
		n += s.received.Load()
	}
	return n
}

// connectSubscribers opens o.subscribers connections, o.dialers at a time;
// subscriber i watches project i modulo the number of projects.
func connectSubscribers(ctx context.Context, o options, projects []string) ([]*subscriber, error) {
	wsURL := "ws" + strings.TrimPrefix(o.url, "http")
	subs := make([]*subscriber, o.subscribers)
	errs := make(chan error, o.subscribers)
	slots := make(chan struct{}, o.dialers)
	var wg sync.WaitGroup
	for i := range subs {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s, err := dialSubscriber(ctx, wsURL, i%len(projects), projects[i%len(projects)])
			if err != nil {
				errs <- fmt.Errorf("subscriber %d: %w", i, err)
				return
			}
			subs[i] = s
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return subs, err
	}
	return subs, nil
}

func dialSubscriber(ctx context.Context, wsURL string, project int, projectID string) (*subscriber, error) {
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dialCtx, wsURL, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	conn.SetReadLimit(1 << 20)
	s := &subscriber{conn: conn, project: project}
	if err := s.write(dialCtx, wsMessage{Type: "connection_init", Payload: json.RawMessage(`{}`)}); err != nil {
		conn.CloseNow()
		return nil, err
	}
	var ack wsMessage
	if err := s.readMessage(dialCtx, &ack); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("read connection_ack: %w", err)
	}
	if ack.Type != "connection_ack" {
		conn.CloseNow()
		return nil, fmt.Errorf("first message is %q, want connection_ack", ack.Type)
	}
	payload, err := json.Marshal(map[string]any{"query": eventsSubscription, "variables": map[string]any{"id": projectID}})
	if err != nil {
		conn.CloseNow()
		return nil, err
	}
	if err := s.write(dialCtx, wsMessage{ID: "events", Type: "subscribe", Payload: payload}); err != nil {
		conn.CloseNow()
		return nil, err
	}
	return s, nil
}

func (s *subscriber) write(ctx context.Context, msg wsMessage) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if err := s.conn.Write(ctx, websocket.MessageText, data); err != nil {
		return fmt.Errorf("send %s: %w", msg.Type, err)
	}
	return nil
}

func (s *subscriber) readMessage(ctx context.Context, msg *wsMessage) error {
	_, data, err := s.conn.Read(ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, msg)
}

// read receives events until ctx ends or the connection fails, answering
// the server's pings so that it keeps the connection open.
func (s *subscriber) read(ctx context.Context) {
	for {
		var msg wsMessage
		if err := s.readMessage(ctx, &msg); err != nil {
			if ctx.Err() == nil {
				s.err = err
			}
			return
		}
		received := time.Now()
		switch msg.Type {
		case "ping":
			if err := s.write(ctx, wsMessage{Type: "pong"}); err != nil {
				s.err = err
				return
			}
		case "next":
			var event eventResult
			if err := json.Unmarshal(msg.Payload, &event); err != nil || len(event.Errors) > 0 {
				s.err = fmt.Errorf("invalid result %s: %v", msg.Payload, err)
				return
			}
			s.warm.Store(true)
			from := s.from.Load()
			if from > 0 && event.Data.ProjectEvents.StreamVersion >= from {
				s.received.Add(1)
				s.latencies = append(s.latencies, received.Sub(event.Data.ProjectEvents.RecordedAt))
			}
		case "error", "complete":
			s.err = fmt.Errorf("subscription ended with %s: %s", msg.Type, msg.Payload)
			return
		}
	}
}

// warmUp logs time on every project until every subscriber has received an
// event, because the server registers a subscription after the subscribe
// message, and returns the stream version of each project's last warm-up
// event.
func warmUp(ctx context.Context, client *http.Client, url string, projects []string, subs []*subscriber) ([]int64, error) {
	versions := make([]int64, len(projects))
	deadline := time.Now().Add(2 * time.Minute)
	for round := 0; ; round++ {
		cold := map[int]bool{}
		for _, s := range subs {
			if !s.warm.Load() {
				cold[s.project] = true
			}
		}
		if len(cold) == 0 && round > 0 {
			return versions, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("subscribers of %d projects received no event within 2 minutes of warm-up", len(cold))
		}
		for p := range projects {
			if round > 0 && !cold[p] {
				continue
			}
			version, err := logTime(ctx, client, url, projects[p])
			if err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
			versions[p] = version
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// sentMutations counts the acknowledged mutations of a run.
type sentMutations struct {
	total      int64
	perProject []int64
}

// driveMutations sends o.rate logTime mutations per second for
// o.duration, one project after another, and counts the acknowledged ones.
func driveMutations(ctx context.Context, client *http.Client, o options, projects []string) (sentMutations, error) {
	sent := sentMutations{perProject: make([]int64, len(projects))}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(o.rate)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	stop := time.Now().Add(o.duration)
	for i := 0; time.Now().Before(stop); i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return sent, ctx.Err()
		case <-ticker.C:
		}
		p := i % len(projects)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := logTime(ctx, client, o.url, projects[p])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			sent.total++
			sent.perProject[p]++
		}()
	}
	wg.Wait()
	return sent, firstErr
}

func startProject(ctx context.Context, client *http.Client, url string, i int) (string, error) {
	var data struct {
		StartProject struct{ Project struct{ ID string } }
	}
	err := post(ctx, client, url, `mutation($input: StartProjectInput!) { startProject(input: $input) { project { id } } }`, map[string]any{
		"input": map[string]any{
			"customerId": fmt.Sprintf("wsload-%d-%d", time.Now().UnixNano(), i), "customerName": fmt.Sprintf("WS load %d AB", i),
			"name": fmt.Sprintf("WebSocket load %d", i), "estimatedHours": 10,
			"systems": []map[string]any{{"name": "Shop", "platform": "SHOPIFY"}, {"name": "Fortnox", "platform": "FORTNOX"}},
		},
	}, &data)
	if err != nil {
		return "", fmt.Errorf("start project %d: %w", i, err)
	}
	return data.StartProject.Project.ID, nil
}

// logTime logs a quarter of an hour and returns the stream version of the
// event it stored.
func logTime(ctx context.Context, client *http.Client, url, projectID string) (int64, error) {
	var data struct {
		LogTime struct{ Project struct{ Version int64 } }
	}
	err := post(ctx, client, url, `mutation($id: ID!) { logTime(input: {projectId: $id, hours: 0.25, description: "wsload"}) { project { version } } }`,
		map[string]any{"id": projectID}, &data)
	if err != nil {
		return 0, fmt.Errorf("log time on %s: %w", projectID, err)
	}
	return data.LogTime.Project.Version - 1, nil
}

func post(ctx context.Context, client *http.Client, url, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var res struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("decode response %q (HTTP %d): %w", raw, resp.StatusCode, err)
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("request failed: %s", res.Errors[0].Message)
	}
	return json.Unmarshal(res.Data, out)
}
