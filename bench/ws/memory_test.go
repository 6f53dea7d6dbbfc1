package ws

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/wsmodule"
)

// Each measurement runs its server in a fresh child process (this test
// binary, with WSMEM_SERVER set) and its clients in another (wsmodule's
// internal/wsclients): a process may hold at most 20,000 file descriptors,
// and a fresh server process keeps goroutines and buffers freed by an
// earlier measurement from hiding the cost of the next.
func TestMain(m *testing.M) {
	if kind := os.Getenv("WSMEM_SERVER"); kind != "" {
		n, _ := strconv.Atoi(os.Getenv("WSMEM_CONNS"))
		if err := serveAndMeasure(kind, os.Getenv("WSMEM_STATE") == "echoed", n); err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// A server upgrades, reads each connection on a goroutine of its own and
// returns from the handler. It calls ready once a connection is set up or,
// with echo, once it has answered the client's first message.
type server func(echo bool, ready func()) (http.Handler, error)

var servers = map[string]server{
	"lameduck": func(echo bool, ready func()) (http.Handler, error) {
		opts := []wsmodule.Option{wsmodule.OnConnect(func(*wsmodule.Conn) { ready() })}
		if echo {
			opts = []wsmodule.Option{wsmodule.OnMessage(func(c *wsmodule.Conn, _ wsmodule.MessageType, _ []byte) {
				_ = c.SendText("hi")
				ready()
			})}
		}
		return wsmodule.NewHub("bench", wsmodule.DefaultSettings(nil), opts...)
	},
	// lameduck-json answers with a JSON document encoded in the callback,
	// as applications do: encoding/json needs more stack than a goroutine
	// starts with. Only TestIdleReaderStack uses it.
	"lameduck-json": func(echo bool, ready func()) (http.Handler, error) {
		return wsmodule.NewHub("bench", wsmodule.DefaultSettings(nil), wsmodule.OnMessage(func(c *wsmodule.Conn, _ wsmodule.MessageType, data []byte) {
			out, err := json.Marshal(map[string]any{"type": "echo", "data": string(data), "at": time.Now()})
			if err == nil {
				_ = c.Send(wsmodule.TextMessage, out)
			}
			ready()
		}))
	},
	// lameduck-deep answers like lameduck, from a callback that first uses
	// 32 KiB of stack. Only TestIdleReaderStack uses it.
	"lameduck-deep": func(echo bool, ready func()) (http.Handler, error) {
		return wsmodule.NewHub("bench", wsmodule.DefaultSettings(nil), wsmodule.OnMessage(func(c *wsmodule.Conn, _ wsmodule.MessageType, _ []byte) {
			deep(32)
			_ = c.SendText("hi")
			ready()
		}))
	},
	"gorilla-default": func(echo bool, ready func()) (http.Handler, error) {
		return gorillaHandler(&websocket.Upgrader{}, echo, ready), nil
	},
	"gorilla-1k-pool": func(echo bool, ready func()) (http.Handler, error) {
		return gorillaHandler(&websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: &sync.Pool{}}, echo, ready), nil
	},
	"coder": func(echo bool, ready func()) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := coder.Accept(w, r, nil)
			if err != nil {
				return
			}
			go func() {
				ctx := context.Background()
				for {
					if _, _, err := c.Read(ctx); err != nil {
						return
					}
					if echo {
						_ = c.Write(ctx, coder.MessageText, []byte("hi"))
						ready()
					}
				}
			}()
			if !echo {
				ready()
			}
		}), nil
	},
}

func gorillaHandler(u *websocket.Upgrader, echo bool, ready func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if echo {
			go gorillaEcho(c, ready)
			return
		}
		go gorillaRead(c)
		ready()
	})
}

// gorillaRead is the smallest reader: it discards what it reads.
func gorillaRead(c *websocket.Conn) {
	defer c.Close()
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}

// gorillaEcho answers every message.
func gorillaEcho(c *websocket.Conn, ready func()) {
	defer c.Close()
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte("hi"))
		ready()
	}
}

// deep uses about n KiB of stack.
//
//go:noinline
func deep(n int) int {
	var pad [1024]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[n%len(pad)])
}

// live returns the Go heap in use and the goroutine stacks, after garbage
// collection.
func live() (heap, stacks uint64) {
	var ms runtime.MemStats
	for range 4 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse
}

// serveAndMeasure is the child process: it serves kind on 127.0.0.1:0,
// prints "listening ADDR", waits until n connections are ready, and prints
// "bytes B stack S": the growth of heap + stacks, and of stacks alone,
// divided by n. It exits when stdin closes, even before the connections are
// ready: the parent closes it when the clients fail.
func serveAndMeasure(kind string, echo bool, n int) error {
	parentGone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(parentGone)
	}()
	all := make(chan struct{})
	var count atomic.Int64
	ready := func() {
		if count.Add(1) == int64(n) {
			close(all)
		}
	}
	h, err := servers[kind](echo, ready)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	heap0, stack0 := live()
	fmt.Printf("listening %s\n", ln.Addr())
	select {
	case <-all:
	case <-parentGone:
		return fmt.Errorf("%d of %d connections ready when the parent closed stdin", count.Load(), n)
	}
	heap1, stack1 := live()
	perConn := func(after, before uint64) int64 { return (int64(after) - int64(before)) / int64(n) }
	fmt.Printf("bytes %d stack %d\n", perConn(heap1+stack1, heap0+stack0), perConn(stack1, stack0))
	<-parentGone
	return nil
}

// BenchmarkIdleConnMemory reports the Go heap + stacks, after GC, that one
// idle connection costs the server, with 10,000 connections (B/conn):
// fresh after the handshake, and idle again after one message each way.
//
//	go test -run '^$' -bench IdleConnMemory -benchtime 1x -count 6 ./ws/
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 10000
	clients := buildClients(b)
	for _, state := range []string{"fresh", "echoed"} {
		for _, kind := range []string{"lameduck", "gorilla-default", "gorilla-1k-pool", "coder"} {
			b.Run(fmt.Sprintf("state=%s/server=%s", state, kind), func(b *testing.B) {
				var total float64
				for range b.N {
					bytes, _ := measure(b, clients, kind, state, n)
					total += bytes
				}
				b.ReportMetric(total/float64(b.N), "B/conn")
			})
		}
	}
}

// buildClients builds the client program and returns its path.
func buildClients(tb testing.TB) string {
	tb.Helper()
	clients := filepath.Join(tb.TempDir(), "wsclients")
	build := exec.Command("go", "build", "-o", clients, "./wsmodule/internal/wsclients")
	build.Dir = "../.." // the lameduck module
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build wsclients: %v\n%s", err, out)
	}
	return clients
}

// measure runs one server child and one client child and returns the bytes
// of heap + stacks, and of stacks alone, per connection that the server
// reported.
func measure(b testing.TB, clients, kind, state string, n int) (bytes, stack float64) {
	server := exec.Command(os.Args[0], "-test.run", "^$")
	server.Env = append(os.Environ(), "WSMEM_SERVER="+kind, "WSMEM_STATE="+state, "WSMEM_CONNS="+strconv.Itoa(n))
	serverIn, out := pipes(b, server)
	defer func() {
		_ = serverIn.Close()
		_ = server.Wait()
	}()
	addr, ok := strings.CutPrefix(line(out), "listening ")
	if !ok {
		b.Fatal("server child did not start")
	}
	args := []string{"-url", "ws://" + addr + "/", "-n", strconv.Itoa(n)}
	if state == "echoed" {
		args = append(args, "-hello")
	}
	cl := exec.Command(clients, args...)
	clIn, clOut := pipes(b, cl)
	defer func() {
		_ = clIn.Close()
		_ = cl.Wait()
	}()
	if got := line(clOut); got != fmt.Sprintf("ready %d", n) {
		b.Fatalf("clients: %q", got)
	}
	got := line(out)
	if _, err := fmt.Sscanf(got, "bytes %g stack %g", &bytes, &stack); err != nil {
		b.Fatalf("server child: no measurement (%q): %v", got, err)
	}
	return bytes, stack
}

func pipes(b testing.TB, cmd *exec.Cmd) (io.WriteCloser, *bufio.Scanner) {
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return in, bufio.NewScanner(out)
}

func line(s *bufio.Scanner) string {
	if s.Scan() {
		return s.Text()
	}
	return ""
}
