package wsmodule

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lameduck/lameduck/wsmodule/internal/baseline"
)

// Benchmarks run their clients in a second process (internal/wsclients):
// one process here may hold at most 20,000 file descriptors, and 10,000
// connections need 20,000 sockets in all.
//
//	go test -run '^$' -bench Drain -benchtime 1x -count 6 ./wsmodule/
//	go test -run '^$' -bench Broadcast -count 6 ./wsmodule/

// buildClients builds the client program and returns its path.
func buildClients(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "wsclients")
	out, err := exec.Command("go", "build", "-o", bin, "./internal/wsclients").CombinedOutput()
	if err != nil {
		b.Fatalf("build wsclients: %v\n%s", err, out)
	}
	return bin
}

// clients is a running wsclients process.
type clients struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
}

// startClients starts bin with n connections to url and waits until all are
// open.
func startClients(b *testing.B, bin, url string, n int, args ...string) *clients {
	b.Helper()
	cmd := exec.Command(bin, append([]string{"-url", url, "-n", fmt.Sprint(n)}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &clients{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
	if line := c.next(); line != fmt.Sprintf("ready %d", n) {
		c.kill()
		b.Fatalf("wsclients: %q, want ready %d; stderr: %s", line, n, stderr.String())
	}
	return c
}

func (c *clients) next() string {
	if c.lines.Scan() {
		return c.lines.Text()
	}
	return "(no output)"
}

// done waits for the summary line and the process's exit.
func (c *clients) done() string {
	line := c.next()
	_ = c.stdin.Close()
	_ = c.cmd.Wait()
	return line
}

func (c *clients) kill() {
	_ = c.stdin.Close()
	_ = c.cmd.Wait()
}

// benchServer serves h on 127.0.0.1:0 and returns its ws:// URL and a
// function that stops the server.
func benchServer(b *testing.B, h http.Handler) (string, func()) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return "ws://" + ln.Addr().String() + "/", func() {
		_ = srv.Close()
		<-done
	}
}

// countTo returns a function to call once per event and a channel closed at
// the nth call.
func countTo(n int) (func(), <-chan struct{}) {
	ch := make(chan struct{})
	events := make(chan struct{}, n)
	return func() {
		events <- struct{}{}
		if len(events) == n {
			close(ch)
		}
	}, ch
}

// BenchmarkDrain measures a hub's drain of 1,000 and 10,000 idle clients
// until every close handshake is complete: wsmodule's Hub.Stop against the
// common pattern (close frames one after another, then a 200ms poll for
// emptiness). One op is one drain; server-cpu-ms/op is the CPU time the
// server process used during it.
func BenchmarkDrain(b *testing.B) {
	bin := buildClients(b)
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("hub=lameduck/clients=%d", n), func(b *testing.B) {
			benchDrain(b, bin, n, func(connected func()) (http.Handler, func(context.Context) error, func()) {
				hub := newTestHub(b, testConfig(), OnConnect(func(*Conn) { connected() }))
				return hub, hub.Stop, func() {
					if st := hub.Stats(); st.ClosedClean != uint64(n) {
						b.Fatalf("%d of %d close handshakes completed", st.ClosedClean, n)
					}
				}
			})
		})
		b.Run(fmt.Sprintf("hub=naive/clients=%d", n), func(b *testing.B) {
			benchDrain(b, bin, n, func(connected func()) (http.Handler, func(context.Context) error, func()) {
				hub := &baseline.Hub{OnConnect: func(*websocket.Conn) { connected() }}
				return hub, hub.Shutdown, func() {}
			})
		})
	}
}

// benchDrain times stopping a hub that n clients in a second process are
// connected to, and the server CPU it used. build returns the hub to serve,
// its stop, and a check of the hub's own counts after the stop; connected
// must be called once per tracked connection.
func benchDrain(b *testing.B, bin string, n int, build func(connected func()) (http.Handler, func(context.Context) error, func())) {
	var cpu time.Duration
	defer func() { b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "server-cpu-ms/op") }()
	for range b.N {
		b.StopTimer()
		connected, all := countTo(n)
		hub, stopHub, check := build(connected)
		url, stop := benchServer(b, hub)
		cl := startClients(b, bin, url, n)
		<-all
		runtime.GC() // not the set-up's garbage
		cpu0 := cpuTime()
		b.StartTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := stopHub(ctx)
		cancel()
		b.StopTimer()
		cpu += cpuTime() - cpu0
		if err != nil {
			b.Fatal(err)
		}
		check()
		if got, want := cl.done(), fmt.Sprintf("done %d closes=1001:%d", n, n); got != want {
			b.Fatalf("clients: %q, want %q", got, want)
		}
		stop()
	}
}

// BenchmarkBroadcast measures delivered broadcast throughput to 1,000
// clients in another process: wsmodule's Hub.Broadcast (queue per
// connection, one writer each) against a mutex-guarded gorilla hub that
// writes to each connection in turn. Messages go out in windows of 32; the
// last of each window asks every client for an ack, and the next window
// starts when all have answered. One op is one 128-byte message broadcast
// to every client and received by all.
func BenchmarkBroadcast(b *testing.B) {
	const n, window = 1000, 32
	bin := buildClients(b)
	payload := []byte(strings.Repeat("m", 128))
	marked := append([]byte("!"), payload[1:]...)
	run := func(b *testing.B, broadcast func([]byte), acks <-chan struct{}) {
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i += window {
			k := min(window, b.N-i)
			for range k - 1 {
				broadcast(payload)
			}
			broadcast(marked)
			for range n {
				<-acks
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)*n/time.Since(start).Seconds(), "msgs/s")
	}
	b.Run(fmt.Sprintf("hub=lameduck/clients=%d", n), func(b *testing.B) {
		connected, all := countTo(n)
		acks := make(chan struct{}, n)
		hub := newTestHub(b, testConfig(), OnConnect(func(*Conn) { connected() }),
			OnMessage(func(*Conn, MessageType, []byte) { acks <- struct{}{} }))
		url, stop := benchServer(b, hub)
		defer stop()
		cl := startClients(b, bin, url, n, "-ack")
		defer cl.kill()
		<-all
		run(b, func(m []byte) {
			if sent, _ := hub.Broadcast(TextMessage, m); sent != n {
				b.Fatalf("broadcast reached %d of %d", sent, n)
			}
		}, acks)
		if st := hub.Stats(); st.Overflows != 0 {
			b.Fatalf("%d overflows", st.Overflows)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = hub.Stop(ctx)
	})
	b.Run(fmt.Sprintf("hub=mutex/clients=%d", n), func(b *testing.B) {
		connected, all := countTo(n)
		acks := make(chan struct{}, n)
		hub := &baseline.Hub{OnConnect: func(*websocket.Conn) { connected() },
			OnMessage: func(*websocket.Conn, []byte) { acks <- struct{}{} }}
		url, stop := benchServer(b, hub)
		defer stop()
		cl := startClients(b, bin, url, n, "-ack")
		defer cl.kill()
		<-all
		run(b, hub.Broadcast, acks)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx)
	})
}

// BenchmarkBroadcastStuckPeer broadcasts to 10,000 connections, with and
// without one peer that never reads. The 10,000 clients (9,999 with a stuck
// peer) run in another process and acknowledge every message; the stuck
// peer is in this process, with small socket buffers and its writer already
// blocked on 60 queued messages, so that it overflows its queue during the
// run and is closed. One op is one 1 KiB broadcast received by every
// reading client; broadcast-ms/op is the time inside the Broadcast call.
//
//	go test -run '^$' -bench BroadcastStuckPeer -benchtime 20x -count 6 ./wsmodule/
func BenchmarkBroadcastStuckPeer(b *testing.B) {
	const n = 10000
	bin := buildClients(b)
	for _, stuckPeers := range []int{0, 1} {
		b.Run(fmt.Sprintf("stuck=%d/conns=%d", stuckPeers, n), func(b *testing.B) {
			readers := n - stuckPeers
			var waiter connWaiter
			acks := make(chan struct{}, n)
			hub := newTestHub(b, testConfig(), OnConnect(waiter.onConnect),
				OnMessage(func(*Conn, MessageType, []byte) { acks <- struct{}{} }))
			url, stop := benchServer(b, hub)
			defer stop()
			if stuckPeers == 1 {
				stuck := dialStuck(b, url)
				defer stuck.Close()
				sc := waiter.wait(b, 1)[0]
				if err := sc.ws.NetConn().(*net.TCPConn).SetWriteBuffer(4096); err != nil {
					b.Fatal(err)
				}
				big := strings.Repeat("s", 64<<10)
				for range 60 {
					if err := sc.SendText(big); err != nil {
						b.Fatal(err)
					}
				}
			}
			cl := startClients(b, bin, url, readers, "-ack")
			defer cl.kill()
			waiter.wait(b, n)

			msg := []byte("!" + strings.Repeat("b", 1023))
			var inCall time.Duration
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if _, err := hub.Broadcast(TextMessage, msg); err != nil {
					b.Fatal(err)
				}
				inCall += time.Since(start)
				for range readers {
					<-acks
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(inCall.Microseconds())/1000/float64(b.N), "broadcast-ms/op")
			b.ReportMetric(float64(hub.Stats().Overflows), "overflows")
			for _, c := range waiter.wait(b, n)[:stuckPeers] {
				_ = c.CloseNow() // it would not answer the drain's close frame
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = hub.Stop(ctx)
		})
	}
}

// dialStuck connects a client that never reads, with a small receive
// buffer.
func dialStuck(b *testing.B, url string) *websocket.Conn {
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}
