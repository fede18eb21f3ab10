package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/eventstore"
)

// verifyFile checks an export offline: every line must parse as an
// exported event, and the hash chain of every stream in it must be whole.
// path "-" reads standard input.
func verifyFile(ctx context.Context, path string, stdout io.Writer, status *statusLine, log zerolog.Logger) error {
	in := io.Reader(os.Stdin)
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return notRun(fmt.Errorf("read export file: %w", err))
		}
		defer f.Close()
		in = f
	}

	check := &fileCheck{verifier: eventstore.NewChainVerifier()}
	report := startProgress("verify: file", check.lines.Load, status, log, progressLogInterval)
	started := time.Now()
	err := check.read(ctx, bufio.NewReaderSize(in, 1<<20))
	elapsed := time.Since(started)
	report.Stop()
	if err != nil {
		return notRun(fmt.Errorf("read %s: %w", path, err))
	}

	fmt.Fprintf(stdout, "file:      %s, %d lines, %d invalid\n", path, check.lines.Load(), len(check.invalid))
	printChainSummary(stdout, check.verifier, elapsed)
	for _, line := range check.invalid {
		fmt.Fprintf(stdout, "invalid line: %s\n", line)
	}
	for _, line := range check.broken {
		fmt.Fprintf(stdout, "broken chain: %s\n", line)
	}
	if len(check.invalid) == 0 && len(check.broken) == 0 {
		fmt.Fprintln(stdout, "verify:    ok")
		return nil
	}
	summary := fmt.Sprintf("%s, %s", plural(len(check.broken), "broken chain"), plural(len(check.invalid), "invalid line"))
	fmt.Fprintf(stdout, "verify:    FAILED: %s\n", summary)
	return &exitError{status: exitVerifyFailed, err: errors.New("verification failed: " + summary)}
}

// fileCheck is the state of a check of an export.
type fileCheck struct {
	verifier *eventstore.ChainVerifier
	lines    atomic.Int64
	// invalid and broken describe each line that does not parse and the
	// first broken event of each broken stream, with its line number.
	invalid []string
	broken  []string
}

// fileCheckBatch is the number of lines parsed at a time, spread over
// every CPU, before their chains are checked in order.
const fileCheckBatch = 4096

// read checks every line of in. It returns an error only when in cannot
// be read or ctx ends.
func (c *fileCheck) read(ctx context.Context, in *bufio.Reader) error {
	batch := make([][]byte, 0, fileCheckBatch)
	first := 1
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			batch = append(batch, line)
		}
		atEnd := errors.Is(err, io.EOF)
		if err != nil && !atEnd {
			return err
		}
		if len(batch) == fileCheckBatch || (atEnd && len(batch) > 0) {
			c.checkBatch(first, batch)
			first += len(batch)
			batch = batch[:0]
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if atEnd {
			return nil
		}
	}
}

// parsedLine is the outcome of parsing one line of an export.
type parsedLine struct {
	event eventstore.RecordedEvent
	err   error
}

// checkBatch parses lines, whose first has the number first, in parallel
// and then checks the chains in line order.
func (c *fileCheck) checkBatch(first int, lines [][]byte) {
	parsed := make([]parsedLine, len(lines))
	workers := runtime.GOMAXPROCS(0)
	chunk := (len(lines) + workers - 1) / workers
	var wg sync.WaitGroup
	for start := 0; start < len(lines); start += chunk {
		end := min(start+chunk, len(lines))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := start; i < end; i++ {
				parsed[i].event, parsed[i].err = parseLine(lines[i])
			}
		}()
	}
	wg.Wait()

	for i, p := range parsed {
		number := first + i
		if p.err != nil {
			c.invalid = append(c.invalid, fmt.Sprintf("line %d: %v", number, p.err))
			continue
		}
		if failure := c.verifier.Add(p.event); failure != nil {
			c.broken = append(c.broken, fmt.Sprintf("line %d: %v", number, failure))
		}
	}
	c.lines.Add(int64(len(lines)))
}

func parseLine(line []byte) (eventstore.RecordedEvent, error) {
	line = bytes.TrimRight(line, "\r\n")
	if len(bytes.TrimSpace(line)) == 0 {
		return eventstore.RecordedEvent{}, errors.New("empty; every line must be one exported event")
	}
	return parseExportedEvent(line)
}
