// Command loadbench measures the end-to-end cost of a lameduck server
// against a bare net/http server with the same handler and settings, in
// the same run: wrk for HTTP/1.1 and h2load for h2c (prior knowledge).
//
// Each server runs in a child process of its own, so that its CPU time can
// be read from /proc. Rounds alternate between the two servers so that the
// drift of a shared machine hits both alike. For every round it prints the
// requests per second and the server's CPU time per request; then the
// medians, and lameduck's as a ratio of the bare server's. On a machine
// that other jobs share, throughput swings with their load; CPU time per
// request is the steadier measure of what the server itself costs.
//
//	go run ./httpmodule/internal/loadbench -rounds 6 -duration 5s
//
// Pin the servers and the load generator to separate CPUs with
// -server-cpu and -load-cpu (taskset).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lameduck/lameduck/httpmodule"
)

func main() {
	serve := flag.String("serve", "", "internal: run one server (bare or lameduck) and print its address")
	rounds := flag.Int("rounds", 6, "rounds per server and tool")
	duration := flag.Duration("duration", 5*time.Second, "length of one round")
	conns := flag.Int("conns", 32, "connections (wrk)")
	h2conns := flag.Int("h2conns", 8, "connections (h2load)")
	streams := flag.Int("streams", 16, "concurrent streams per connection (h2load)")
	tools := flag.String("tools", "wrk,h2load", "load generators to run: wrk, h2load or both")
	serverCPU := flag.Int("server-cpu", -1, "pin the servers to this CPU with taskset, GOMAXPROCS=1 (-1: no pinning)")
	loadCPU := flag.Int("load-cpu", -1, "pin the load generator to this CPU with taskset (-1: no pinning)")
	flag.Parse()
	if *serve != "" {
		if err := runServer(*serve); err != nil {
			fmt.Fprintln(os.Stderr, "loadbench:", err)
			os.Exit(1)
		}
		return
	}
	b := bench{rounds: *rounds, d: *duration, conns: *conns, h2conns: *h2conns, streams: *streams,
		serverCPU: *serverCPU, loadCPU: *loadCPU}
	if err := b.run(strings.Split(*tools, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// handler is what both servers serve: a small fixed body.
func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello, world\n")
	})
	return mux
}

// runServer serves with the bare or the lameduck server until stdin closes.
func runServer(kind string) error {
	cfg := httpmodule.DefaultServerSettings("127.0.0.1:0")
	var addr string
	switch kind {
	case "lameduck":
		s := httpmodule.NewServer("public", cfg, handler())
		if err := s.Start(context.Background()); err != nil {
			return err
		}
		defer s.Close()
		addr = s.Addr().String()
	case "bare":
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return err
		}
		var protos http.Protocols
		protos.SetHTTP1(true)
		protos.SetUnencryptedHTTP2(true)
		srv := &http.Server{
			Handler: handler(), Protocols: &protos,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: int(cfg.MaxHeaderBytes),
			HTTP2: &http.HTTP2Config{MaxConcurrentStreams: cfg.MaxConcurrentStreams},
		}
		go srv.Serve(ln)
		defer srv.Close()
		addr = ln.Addr().String()
	default:
		return fmt.Errorf("unknown server %q", kind)
	}
	fmt.Println(addr)
	_, err := io.Copy(io.Discard, os.Stdin)
	return err
}

type bench struct {
	rounds                  int
	d                       time.Duration
	conns, h2conns, streams int
	serverCPU, loadCPU      int
}

// server is a server child process.
type server struct {
	name, addr string
	cmd        *exec.Cmd
	stdin      io.Closer
}

func (b bench) startServer(name string) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := pinned(b.serverCPU, []string{self, "-serve", name})
	if b.serverCPU >= 0 {
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	}
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
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", name, err)
	}
	return &server{name: name, addr: strings.TrimSpace(line), cmd: cmd, stdin: stdin}, nil
}

func (s *server) stop() {
	s.stdin.Close()
	s.cmd.Wait()
}

// cpu returns the CPU time the server process has used.
func (s *server) cpu() (time.Duration, error) {
	pid := s.cmd.Process.Pid // taskset execs the server in place: same pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the ")" that ends the command name: utime is the 14th
	// field of the line, stime the 15th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// pinned returns the command for args, pinned to cpu with taskset if cpu >= 0.
func pinned(cpu int, args []string) *exec.Cmd {
	if cpu >= 0 {
		args = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, args...)
	}
	return exec.Command(args[0], args[1:]...)
}

type tool struct {
	name     string
	args     func(url string) []string
	rps      *regexp.Regexp
	requests *regexp.Regexp
}

func (b bench) tools() []tool {
	return []tool{
		{"wrk", func(url string) []string {
			return []string{"wrk", "-t1", "-c" + strconv.Itoa(b.conns), "-d" + b.d.String(), url}
		}, regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`), regexp.MustCompile(`(\d+) requests in`)},
		{"h2load", func(url string) []string {
			return []string{"h2load", "-t1", "-c" + strconv.Itoa(b.h2conns), "-m" + strconv.Itoa(b.streams),
				"-D", strconv.Itoa(int(b.d.Seconds())), url}
		}, regexp.MustCompile(`finished in [^,]+, ([0-9.]+) req/s`), regexp.MustCompile(`requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded`)},
	}
}

func (b bench) run(tools []string) error {
	bare, err := b.startServer("bare")
	if err != nil {
		return err
	}
	defer bare.stop()
	ld, err := b.startServer("lameduck")
	if err != nil {
		return err
	}
	defer ld.stop()
	servers := []*server{bare, ld}

	for _, t := range b.tools() {
		if !slices.Contains(tools, t.name) {
			continue
		}
		if _, err := exec.LookPath(t.name); err != nil {
			return fmt.Errorf("%s not installed: %w", t.name, err)
		}
		rps := map[string][]float64{}
		cpu := map[string][]float64{} // µs per request
		for r := range b.rounds {
			order := servers
			if r%2 == 1 {
				order = []*server{ld, bare}
			}
			for _, s := range order {
				before, err := s.cpu()
				if err != nil {
					return err
				}
				args := t.args("http://" + s.addr + "/hello")
				out, err := pinned(b.loadCPU, args).CombinedOutput()
				if err != nil {
					return fmt.Errorf("%v: %w\n%s", args, err, out)
				}
				after, err := s.cpu()
				if err != nil {
					return err
				}
				if err := checkErrors(t.name, out); err != nil {
					return fmt.Errorf("%s against %s: %w\n%s", t.name, s.name, err, out)
				}
				m, n := t.rps.FindSubmatch(out), t.requests.FindSubmatch(out)
				if m == nil || n == nil {
					return fmt.Errorf("%s: no throughput in output:\n%s", t.name, out)
				}
				v, _ := strconv.ParseFloat(string(m[1]), 64)
				reqs, _ := strconv.ParseFloat(string(n[1]), 64)
				perReq := float64((after - before).Microseconds()) / reqs
				rps[s.name] = append(rps[s.name], v)
				cpu[s.name] = append(cpu[s.name], perReq)
				fmt.Printf("%-7s round %d %-9s %10.0f req/s %7.2f µs CPU/req\n", t.name, r+1, s.name, v, perReq)
			}
		}
		br, lr := median(rps["bare"]), median(rps["lameduck"])
		bc, lc := median(cpu["bare"]), median(cpu["lameduck"])
		fmt.Printf("%-7s median throughput: bare %.0f req/s, lameduck %.0f req/s, ratio %.3f\n", t.name, br, lr, lr/br)
		fmt.Printf("%-7s median CPU/request: bare %.2f µs, lameduck %.2f µs, bare/lameduck %.3f\n\n", t.name, bc, lc, bc/lc)
	}
	return nil
}

var (
	wrkErrors    = regexp.MustCompile(`Socket errors|Non-2xx`)
	h2loadFailed = regexp.MustCompile(`requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored`)
)

func checkErrors(tool string, out []byte) error {
	switch tool {
	case "wrk":
		if wrkErrors.Match(out) {
			return errors.New("wrk reported errors")
		}
	case "h2load":
		m := h2loadFailed.FindSubmatch(out)
		if m == nil {
			return errors.New("no request summary")
		}
		if string(m[1]) != "0" || string(m[2]) != "0" {
			return fmt.Errorf("%s failed, %s errored", m[1], m[2])
		}
	}
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
