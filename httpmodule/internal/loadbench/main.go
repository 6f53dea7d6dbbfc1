// Command loadbench measures the end-to-end throughput of a lameduck server
// against a bare net/http server with the same handler and settings, in
// the same run: wrk for HTTP/1.1 and h2load for h2c (prior knowledge). The
// two servers run in this process; rounds alternate between them so that
// drift of a shared machine hits both alike. It prints the requests per
// second of every round, the medians, and lameduck's median as a ratio of
// the bare server's.
//
//	go run ./httpmodule/internal/loadbench -rounds 6 -duration 5s
//
// On a shared machine, pin the servers and the load generator to separate
// CPUs:
//
//	go build -o /tmp/loadbench ./httpmodule/internal/loadbench
//	GOMAXPROCS=1 taskset -c 0 /tmp/loadbench -load-cpu 1
package main

import (
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
	"time"

	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/httpmodule"
)

func main() {
	rounds := flag.Int("rounds", 6, "rounds per server and tool")
	duration := flag.Duration("duration", 5*time.Second, "length of one round")
	conns := flag.Int("conns", 32, "connections (wrk) ")
	h2conns := flag.Int("h2conns", 8, "connections (h2load)")
	streams := flag.Int("streams", 16, "concurrent streams per connection (h2load)")
	tools := flag.String("tools", "wrk,h2load", "load generators to run: wrk, h2load or both")
	loadCPU := flag.Int("load-cpu", -1, "pin the load generator to this CPU with taskset (-1: no pinning); "+
		"run loadbench itself under taskset on another CPU, with GOMAXPROCS=1")
	flag.Parse()
	pin = *loadCPU
	if err := run(*rounds, *duration, *conns, *h2conns, *streams, *tools); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// pin is the CPU the load generator is pinned to, or -1.
var pin = -1

// command returns the command for args, pinned to a CPU if asked.
func command(args []string) *exec.Cmd {
	if pin >= 0 {
		args = append([]string{"taskset", "-c", strconv.Itoa(pin)}, args...)
	}
	return exec.Command(args[0], args[1:]...)
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

func run(rounds int, d time.Duration, conns, h2conns, streams int, tools string) error {
	cfg := config.DefaultServer("127.0.0.1:0")
	ld := httpmodule.NewServer("public", cfg, handler())
	if err := ld.Start(context.Background()); err != nil {
		return err
	}
	defer ld.Close()
	bare, err := startBare(cfg)
	if err != nil {
		return err
	}
	defer bare.srv.Close()
	servers := []struct {
		name, addr string
	}{{"bare", bare.addr}, {"lameduck", ld.Addr().String()}}

	type tool struct {
		name string
		cmd  func(url string) []string
		rps  *regexp.Regexp
	}
	all := []tool{
		{"wrk", func(url string) []string {
			return []string{"wrk", "-t1", "-c" + strconv.Itoa(conns), "-d" + d.String(), "--latency", url}
		}, regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)},
		{"h2load", func(url string) []string {
			return []string{"h2load", "-t1", "-c" + strconv.Itoa(h2conns), "-m" + strconv.Itoa(streams),
				"-D", strconv.Itoa(int(d.Seconds())), "--warm-up-time", "1", url}
		}, regexp.MustCompile(`finished in [^,]+, ([0-9.]+) req/s`)},
	}
	for _, t := range all {
		if !slices.Contains(splitComma(tools), t.name) {
			continue
		}
		if _, err := exec.LookPath(t.name); err != nil {
			return fmt.Errorf("%s not installed: %w", t.name, err)
		}
		results := map[string][]float64{}
		for r := range rounds {
			order := servers
			if r%2 == 1 {
				order = []struct{ name, addr string }{servers[1], servers[0]}
			}
			for _, s := range order {
				args := t.cmd("http://" + s.addr + "/hello")
				out, err := command(args).CombinedOutput()
				if err != nil {
					return fmt.Errorf("%v: %w\n%s", args, err, out)
				}
				if err := checkErrors(t.name, out); err != nil {
					return fmt.Errorf("%s against %s: %w\n%s", t.name, s.name, err, out)
				}
				m := t.rps.FindSubmatch(out)
				if m == nil {
					return fmt.Errorf("%s: no throughput in output:\n%s", t.name, out)
				}
				v, _ := strconv.ParseFloat(string(m[1]), 64)
				results[s.name] = append(results[s.name], v)
				fmt.Printf("%-7s round %d %-9s %10.0f req/s\n", t.name, r+1, s.name, v)
			}
		}
		b, l := median(results["bare"]), median(results["lameduck"])
		fmt.Printf("%-7s median: bare %.0f req/s, lameduck %.0f req/s, ratio %.3f\n\n", t.name, b, l, l/b)
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

type bareServer struct {
	srv  *http.Server
	addr string
}

// startBare starts a plain net/http server with the same settings as the
// lameduck one.
func startBare(cfg config.Server) (*bareServer, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
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
	return &bareServer{srv, ln.Addr().String()}, nil
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

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
