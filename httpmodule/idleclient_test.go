package httpmodule

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// idleClientEnv, when set to "ADDR N", makes the test binary a client that
// opens N HTTP/1.1 keep-alive connections to ADDR, makes one request on
// each, prints "ready", and keeps them open, idle, until its stdin closes.
const idleClientEnv = "LAMEDUCK_BENCH_IDLECLIENT"

func runIdleClient(spec string) int {
	var addr string
	var n int
	if _, err := fmt.Sscan(spec, &addr, &n); err != nil {
		fmt.Fprintln(os.Stderr, "idle client:", err)
		return 2
	}
	conns := make([]net.Conn, 0, n)
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	// Open and use them in a few parallel batches.
	const workers = 16
	type result struct {
		c   net.Conn
		err error
	}
	results := make(chan result, n)
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	for range workers {
		go func() {
			for range jobs {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					_, err = io.WriteString(c, req)
				}
				if err == nil {
					var resp *http.Response
					resp, err = http.ReadResponse(bufio.NewReader(c), nil)
					if err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
				results <- result{c, err}
			}
		}()
	}
	for range n {
		r := <-results
		if r.err != nil {
			fmt.Fprintln(os.Stderr, "idle client:", r.err)
			return 1
		}
		conns = append(conns, r.c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return 0
}

// idleClients runs the idle client in a child process with n connections
// to addr, and returns once they are all idle; stop ends the child.
func idleClients(tb testing.TB, addr string, n int) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", idleClientEnv, addr, n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		cancel()
		cmd.Wait()
		tb.Fatalf("idle client: %q %v", line, err)
	}
	return func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cancel()
			<-done
		}
		cancel()
	}
}
