package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The request-path comparison: wrk (HTTP/1.1) and h2load (h2c, prior
// knowledge) against a bare net/http server, a lameduck server and a
// lameduck server with its metrics on, with the same handler and settings
// (cmd/loadservers), each tool in a process of its own. Within a round the
// servers are measured one after the other, in an order that rotates from
// round to round, so that drift of a shared machine hits them alike. With two or more CPUs and taskset installed, the servers
// run on CPU 0 with GOMAXPROCS=1 and the load generator on CPU 1, so that
// they do not compete for a core.

// loadSettings are the load generators' settings.
type loadSettings struct {
	duration time.Duration // of one measurement
	conns    int           // wrk connections
	h2conns  int           // h2load connections
	streams  int           // h2load concurrent streams per connection
}

func (l loadSettings) wrkArgs(url string) []string {
	return []string{"wrk", "-t1", "-c" + strconv.Itoa(l.conns), "-d" + l.duration.String(), "--latency", url}
}

func (l loadSettings) h2loadArgs(url, logFile string) []string {
	return []string{"h2load", "-t1", "-c" + strconv.Itoa(l.h2conns), "-m" + strconv.Itoa(l.streams),
		"-D", strconv.Itoa(max(1, int(l.duration.Seconds()))), "--warm-up-time", "1", "--log-file", logFile, url}
}

// pinned reports whether servers and load generators run on separate CPUs.
func pinned() bool {
	_, err := exec.LookPath("taskset")
	return err == nil && runtime.NumCPU() >= 2
}

// onCPU prefixes args with taskset for cpu when pinning is available.
func onCPU(cpu int, args []string) []string {
	if !pinned() {
		return args
	}
	return append([]string{"taskset", "-c", strconv.Itoa(cpu)}, args...)
}

// checkLoadTools fails with what to install when wrk or h2load is missing.
func checkLoadTools() error {
	var missing []string
	for _, t := range []struct{ bin, pkg string }{{"wrk", "wrk"}, {"h2load", "nghttp2-client"}} {
		if _, err := exec.LookPath(t.bin); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", t.bin, t.pkg))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the request-path comparison needs %s: install them, or leave the comparison out with -only", strings.Join(missing, " and "))
	}
	return nil
}

// runLoad is one round of the request-path comparison.
func (s *suite) runLoad(ctx context.Context, round int) ([]byte, error) {
	args := onCPU(0, []string{filepath.Join(s.work, "loadservers")})
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(map[bool]int{true: 1, false: runtime.NumCPU()}[pinned()]))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	addrs := map[string]string{}
	sc := bufio.NewScanner(stdout)
	servers := []string{"bare", "lameduck", "lameduck+metrics"}
	tlsServers := []string{"bare-tls", "lameduck-tls"}
	for len(addrs) < len(servers)+len(tlsServers) && sc.Scan() {
		name, addr, _ := strings.Cut(sc.Text(), " ")
		addrs[name] = addr
	}
	for _, s := range append(slices.Clone(servers), tlsServers...) {
		if addrs[s] == "" {
			return nil, fmt.Errorf("loadservers printed %v, want the addresses of %v", addrs, servers)
		}
	}
	// Each round starts with the next server, so that each is measured
	// first, second and third as often.
	servers = append(servers[round%len(servers):], servers[:round%len(servers)]...)
	var out bytes.Buffer
	for _, tool := range []string{"wrk", "h2load"} {
		for _, server := range servers {
			m, err := s.loadOnce(ctx, tool, "http://"+addrs[server]+"/hello")
			if err != nil {
				return nil, fmt.Errorf("%s against the %s server: %w", tool, server, err)
			}
			fmt.Fprintf(&out, "BenchmarkRequestPath/tool=%s/server=%s 1 %.0f req/s %.1f p50-µs %.1f p99-µs\n",
				tool, server, m.rps, m.p50, m.p99)
		}
	}
	// Over TLS, with the same certificate: wrk does HTTP/1.1 over TLS,
	// h2load HTTP/2 by ALPN. The two servers alternate which goes first.
	if round%2 == 1 {
		tlsServers = []string{tlsServers[1], tlsServers[0]}
	}
	for _, tool := range []string{"wrk", "h2load"} {
		for _, server := range tlsServers {
			m, err := s.loadOnce(ctx, tool, "https://"+addrs[server]+"/hello")
			if err != nil {
				return nil, fmt.Errorf("%s against the %s server: %w", tool, server, err)
			}
			fmt.Fprintf(&out, "BenchmarkRequestPathTLS/tool=%s/server=%s 1 %.0f req/s %.1f p50-µs %.1f p99-µs\n",
				tool, strings.TrimSuffix(server, "-tls"), m.rps, m.p50, m.p99)
		}
	}
	return out.Bytes(), nil
}

// loadMeasure is what one load generator run measured.
type loadMeasure struct {
	rps      float64
	p50, p99 float64 // latency, µs
}

func (s *suite) loadOnce(ctx context.Context, tool, url string) (loadMeasure, error) {
	var args []string
	logFile := filepath.Join(s.work, "h2load.log")
	switch tool {
	case "wrk":
		args = s.load.wrkArgs(url)
	case "h2load":
		args = s.load.h2loadArgs(url, logFile)
	}
	args = onCPU(1, args)
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return loadMeasure{}, fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
	}
	switch tool {
	case "wrk":
		return parseWrk(out)
	default:
		m, err := parseH2load(out)
		if err != nil {
			return m, err
		}
		f, err := os.Open(logFile)
		if err != nil {
			return m, err
		}
		defer f.Close()
		m.p50, m.p99, err = h2loadLatencies(f)
		return m, err
	}
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkErrors  = regexp.MustCompile(`Socket errors|Non-2xx`)
	h2loadRPS  = regexp.MustCompile(`finished in [^,]+, ([0-9.]+) req/s`)
	h2loadReqs = regexp.MustCompile(`requests: \d+ total, \d+ started, (\d+) done, \d+ succeeded, (\d+) failed, (\d+) errored`)
)

// parseWrk reads wrk --latency's report.
func parseWrk(out []byte) (loadMeasure, error) {
	if wrkErrors.Match(out) {
		return loadMeasure{}, fmt.Errorf("wrk reported errors:\n%s", out)
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return loadMeasure{}, fmt.Errorf("no Requests/sec in wrk's output:\n%s", out)
	}
	var res loadMeasure
	res.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	found := 0
	for _, l := range wrkLatency.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(l[2]), 64)
		v *= map[string]float64{"us": 1, "ms": 1e3, "s": 1e6}[string(l[3])]
		if string(l[1]) == "50" {
			res.p50 = v
		} else {
			res.p99 = v
		}
		found++
	}
	if found != 2 {
		return res, fmt.Errorf("no latency distribution in wrk's output (run it with --latency):\n%s", out)
	}
	return res, nil
}

// parseH2load reads h2load's report: the throughput, and whether every
// request succeeded.
func parseH2load(out []byte) (loadMeasure, error) {
	reqs := h2loadReqs.FindSubmatch(out)
	if reqs == nil {
		return loadMeasure{}, fmt.Errorf("no request summary in h2load's output:\n%s", out)
	}
	if string(reqs[2]) != "0" || string(reqs[3]) != "0" || string(reqs[1]) == "0" {
		return loadMeasure{}, fmt.Errorf("h2load: %s done, %s failed, %s errored:\n%s", reqs[1], reqs[2], reqs[3], out)
	}
	m := h2loadRPS.FindSubmatch(out)
	if m == nil {
		return loadMeasure{}, fmt.Errorf("no req/s in h2load's output:\n%s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	return loadMeasure{rps: rps}, nil
}

// h2loadLatencies reads h2load's --log-file (start time, status, µs to the
// end of the response, tab-separated) and returns the median and the 99th
// percentile of the successful requests' latencies.
func h2loadLatencies(r io.Reader) (p50, p99 float64, err error) {
	var lat []float64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 3 || f[1] != "200" {
			continue
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			return 0, 0, fmt.Errorf("h2load log: %q: %w", sc.Text(), err)
		}
		lat = append(lat, v)
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if len(lat) == 0 {
		return 0, 0, errors.New("h2load log: no successful request")
	}
	slices.Sort(lat)
	return quantile(lat, 0.50), quantile(lat, 0.99), nil
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
