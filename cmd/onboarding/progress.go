package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Intervals between progress reports of the offline commands.
const (
	statusRedrawInterval = 250 * time.Millisecond
	progressLogInterval  = 5 * time.Second
)

// clearLine moves a terminal's cursor to the start of the line and erases
// the line (carriage return, then the ANSI "erase in line" sequence).
const clearLine = "\r\x1b[K"

// statusLine is the last line of a terminal, redrawn in place. Writes to it
// go above it: it is cleared, the bytes are written, and it is drawn again.
// It is safe for concurrent use.
type statusLine struct {
	mu   sync.Mutex
	out  io.Writer
	text string
}

// Write writes p above the status line.
func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.text != "" {
		io.WriteString(s.out, clearLine)
	}
	n, err := s.out.Write(p)
	if s.text != "" {
		io.WriteString(s.out, s.text)
	}
	return n, err
}

// Set replaces the status line with text, which must not end in a newline.
func (s *statusLine) Set(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.text = text
	io.WriteString(s.out, clearLine+text)
}

// Clear erases the status line.
func (s *statusLine) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.text != "" {
		io.WriteString(s.out, clearLine)
		s.text = ""
	}
}

// progress reports how many events a long read has handled so far and at
// what rate: on the status line every statusRedrawInterval when there is
// one, and otherwise as a log line every logInterval.
type progress struct {
	task     string
	count    func() int64
	status   *statusLine
	log      zerolog.Logger
	started  time.Time
	stop     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
}

// startProgress starts reporting count, the events handled so far, for the
// task named task, such as "replay". status may be nil.
func startProgress(task string, count func() int64, status *statusLine, log zerolog.Logger, logInterval time.Duration) *progress {
	p := &progress{task: task, count: count, status: status, log: log, started: time.Now(),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	interval := logInterval
	if status != nil {
		interval = statusRedrawInterval
	}
	go p.run(interval)
	return p
}

func (p *progress) run(interval time.Duration) {
	defer close(p.stopped)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-p.stop:
			if p.status != nil {
				p.status.Clear()
			}
			return
		case <-ticker.C:
			p.report()
		}
	}
}

func (p *progress) report() {
	events := p.count()
	elapsed := time.Since(p.started)
	rate := eventsPerSecond(events, elapsed)
	if p.status != nil {
		p.status.Set(fmt.Sprintf("%s: %d events, %.0f events/s, %s", p.task, events, rate, elapsed.Round(time.Second)))
		return
	}
	p.log.Info().Str("task", p.task).Int64("events", events).Int64("events_per_second", int64(rate)).
		Float64("elapsed_seconds", elapsed.Seconds()).Msg("in progress")
}

// Stop ends the reports and clears the status line. It is safe to call
// more than once.
func (p *progress) Stop() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.stopped
}

// eventsPerSecond returns events divided by elapsed, and 0 for no time.
func eventsPerSecond(events int64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(events) / elapsed.Seconds()
}
