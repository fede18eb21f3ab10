package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// result holds the figures of one workload.
type result struct {
	name        string
	connections int
	connectTime time.Duration
	// rssBefore and rssAfter are the server's VmRSS in bytes, before the
	// connections opened and once all were open and subscribed. Both are
	// zero when the server's process is unknown.
	rssBefore, rssAfter int64
	sent                int
	expected, received  int64
	lost                int64
	latencies           []time.Duration
	// serverCPU is the server's user and system CPU time while messages
	// were sent, and cpuWindow the wall time of that window.
	serverCPU, cpuWindow time.Duration
	// clientCPU is this tool's own CPU time in the same window.
	clientCPU time.Duration
}

func (r *result) memoryPerConnection() float64 {
	if r.rssAfter == 0 || r.connections == 0 {
		return 0
	}
	return float64(r.rssAfter-r.rssBefore) / float64(r.connections)
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func (r *result) print(out io.Writer) {
	slices.Sort(r.latencies)
	fmt.Fprintf(out, "\n%s: %d connections opened in %s\n", r.name, r.connections, r.connectTime.Round(time.Millisecond))
	if r.rssAfter != 0 {
		fmt.Fprintf(out, "  server RSS: %.1f MiB before, %.1f MiB after, %.1f KiB per connection\n",
			mib(r.rssBefore), mib(r.rssAfter), r.memoryPerConnection()/1024)
	} else {
		fmt.Fprintln(out, "  server RSS: not measured (give -server-pid)")
	}
	fmt.Fprintf(out, "  sent %d, expected %d deliveries, received %d, lost %d\n", r.sent, r.expected, r.received, r.lost)
	fmt.Fprintf(out, "  latency: p50 %s, p99 %s, max %s over %d deliveries\n",
		ms(percentile(r.latencies, 0.50)), ms(percentile(r.latencies, 0.99)), ms(percentile(r.latencies, 1)), len(r.latencies))
	if r.cpuWindow > 0 {
		if r.serverCPU > 0 {
			fmt.Fprintf(out, "  server CPU: %.0f%% of one core over %s\n", 100*r.serverCPU.Seconds()/r.cpuWindow.Seconds(), r.cpuWindow.Round(time.Millisecond))
		}
		fmt.Fprintf(out, "  wsload CPU: %.0f%% of one core\n", 100*r.clientCPU.Seconds()/r.cpuWindow.Seconds())
	}
}

func printRatios(out io.Writer, graphql, echo *result) {
	fmt.Fprintln(out, "\ngraphql subscribers against the echo reference:")
	if g, e := graphql.memoryPerConnection(), echo.memoryPerConnection(); g > 0 && e > 0 {
		fmt.Fprintf(out, "  memory per connection: %.1f times\n", g/e)
	}
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p99", 0.99}} {
		g, e := percentile(graphql.latencies, p.q), percentile(echo.latencies, p.q)
		if e > 0 {
			fmt.Fprintf(out, "  latency %s: %.1f times\n", p.name, float64(g)/float64(e))
		}
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// latencyLog collects latencies from many goroutines.
type latencyLog struct {
	mu     sync.Mutex
	values []time.Duration
}

func (l *latencyLog) add(values []time.Duration) {
	l.mu.Lock()
	l.values = append(l.values, values...)
	l.mu.Unlock()
}

// processRSS returns the VmRSS of process pid in bytes, from
// /proc/PID/status.
func processRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 || fields[2] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q in /proc/%d/status", line, pid)
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected VmRSS line %q in /proc/%d/status: %w", line, pid, err)
		}
		return kb * 1024, nil
	}
	if err := scanner.Err(); err != nil {
		return 0, fmt.Errorf("read /proc/%d/status: %w", pid, err)
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// clockTicksPerSecond is the unit of the CPU times in /proc/PID/stat
// (USER_HZ), which is 100 on Linux for every architecture Go supports.
const clockTicksPerSecond = 100

// processCPU returns the user plus system CPU time of process pid, from
// fields 14 and 15 of /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	// The command name in field 2 may contain spaces, so count fields
	// after its closing parenthesis, which starts with field 3.
	end := strings.LastIndexByte(string(raw), ')')
	if end < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, raw)
	}
	fields := strings.Fields(string(raw[end+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, raw)
	}
	var ticks int64
	for _, field := range fields[11:13] {
		n, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected CPU time %q in /proc/%d/stat: %w", field, pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicksPerSecond, nil
}

// ownCPU returns this process's user plus system CPU time.
func ownCPU() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// cpuMeter measures the CPU time of the server (when its pid is known) and
// of this tool over a window.
type cpuMeter struct {
	pid                  int
	start                time.Time
	serverStart, ownBase time.Duration
}

func startCPUMeter(pid int) (*cpuMeter, error) {
	m := &cpuMeter{pid: pid, start: time.Now(), ownBase: ownCPU()}
	if pid != 0 {
		cpu, err := processCPU(pid)
		if err != nil {
			return nil, err
		}
		m.serverStart = cpu
	}
	return m, nil
}

func (m *cpuMeter) stop(r *result) error {
	r.cpuWindow = time.Since(m.start)
	r.clientCPU = ownCPU() - m.ownBase
	if m.pid == 0 {
		return nil
	}
	cpu, err := processCPU(m.pid)
	if err != nil {
		return err
	}
	r.serverCPU = cpu - m.serverStart
	return nil
}

// waitForDeliveries waits until received reports expected deliveries, or
// for at most drain, so that messages still in flight after the last send
// are counted.
func waitForDeliveries(drain time.Duration, expected int64, received func() int64) {
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) && received() < expected {
		time.Sleep(50 * time.Millisecond)
	}
}
