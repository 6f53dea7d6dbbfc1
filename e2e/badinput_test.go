package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Scenario 6: bad input while the replica drains (in its preStop delay):
// slowloris headers, oversized headers, an oversized WebSocket message and
// garbage on the h2c port are each rejected, a well-behaved client is not
// affected, and the replica's file descriptors and goroutines come back to
// where they were.
func TestBadInputWhileDraining(t *testing.T) {
	suite(t)
	b := bins(t)
	const readHeaderTimeout = time.Second
	r := startOne(t, "service", b.Service,
		"LAMEDUCK_STOP_TOTAL=15s", "LAMEDUCK_STOP_PRE_STOP_DELAY=8s", "LAMEDUCK_STOP_SHUTDOWN=2s",
		"LAMEDUCK_STOP_HUB_DRAIN=2s", "LAMEDUCK_STOP_WAIT=1s",
		"LAMEDUCK_SERVERS_PUBLIC_READ_HEADER_TIMEOUT="+readHeaderTimeout.String(),
		"LAMEDUCK_WEBSOCKET_READ_LIMIT=64KiB", "LAMEDUCK_ADMIN_PPROF=true", "LAMEDUCK_LOG_FORMAT=json")
	pid := r.proc.pid()
	admin := "http://" + r.AdminAddr()

	// A WebSocket client that behaves: it must get 1001 at the end, and
	// nothing else.
	good, _, err := websocket.DefaultDialer.Dial("ws://"+r.Addr()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	goodClosed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := good.ReadMessage(); err != nil {
				goodClosed <- err
				return
			}
		}
	}()

	r.proc.signal(t, syscall.SIGTERM)
	waitProbe(t, r.proc, admin+"/readyz", http.StatusServiceUnavailable) // draining
	baseFDs, baseG := fdCount(t, pid), goroutines(t, admin)

	// A well-behaved HTTP client keeps asking for /hello meanwhile.
	var okReqs, badReqs atomic.Int64
	stopGood := make(chan struct{})
	var goodWG sync.WaitGroup
	goodWG.Go(func() {
		c := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-stopGood:
				return
			default:
			}
			resp, err := c.Get("http://" + r.Addr() + "/hello")
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = errors.New(resp.Status)
				}
			}
			if err != nil {
				badReqs.Add(1)
				t.Errorf("well-behaved client during the bad input: %v", err)
			} else {
				okReqs.Add(1)
			}
		}
	})

	type attack struct {
		name string
		run  func() error // nil when the replica rejected it as it should
	}
	attacks := []attack{
		{"slowloris: 20 connections sending a header line every 200ms", func() error { return slowloris(r.Addr(), 20, readHeaderTimeout) }},
		{"oversized headers (128 KiB, limit 64 KiB)", func() error { return oversizedHeaders(r.Addr()) }},
		{"oversized WebSocket message (128 KiB, limit 64 KiB)", func() error { return oversizedWebSocket(r.Addr()) }},
		{"garbage after the h2c preface", func() error { return h2cGarbage(r.Addr(), true) }},
		{"garbage instead of a request (a TLS ClientHello)", func() error { return h2cGarbage(r.Addr(), false) }},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(attacks))
	for i, a := range attacks {
		wg.Go(func() { errs[i] = a.run() })
	}
	wg.Wait()
	rejected := 0
	for i, a := range attacks {
		if errs[i] != nil {
			t.Errorf("%s: %v", a.name, errs[i])
		} else {
			rejected++
		}
	}

	close(stopGood)
	goodWG.Wait()

	// Nothing leaks: the replica's descriptors and goroutines come back.
	fds := waitAtMost(func() int { return fdCount(t, pid) }, baseFDs, 5*time.Second)
	gs := waitAtMost(func() int { return goroutines(t, admin) }, baseG, 5*time.Second)
	if fds > baseFDs || gs > baseG {
		t.Errorf("leak: %d file descriptors and %d goroutines after the bad input, %d and %d before", fds, gs, baseFDs, baseG)
	}

	// The stop then completes cleanly (a second signal skips the rest of
	// the preStop delay, which only had to outlast the bad input), and the
	// good WebSocket client gets 1001.
	r.proc.signal(t, syscall.SIGTERM)
	code := r.proc.wait(t, 30*time.Second)
	report := findStopReport(r.proc.log)
	if code != 0 || report == nil || !report.Clean {
		t.Errorf("stop after the bad input: exit %d, report %v; want exit 0 and a clean report", code, report)
	}
	var ce *websocket.CloseError
	if err := <-goodClosed; !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("well-behaved WebSocket client: %v, want close 1001", err)
	}
	if okReqs.Load() == 0 {
		t.Error("not a test: the well-behaved client sent nothing during the bad input")
	}
	t.Logf("%d bad inputs rejected; well-behaved client: %d ok, %d failed; fds %d -> %d, goroutines %d -> %d",
		rejected, okReqs.Load(), badReqs.Load(), baseFDs, fds, baseG, gs)
	leaked := int64(max(fds-baseFDs, 0) + max(gs-baseG, 0))
	record(t, row{Scenario: "6. bad input while draining", Replica: "lameduck", Requests: okReqs.Load() + int64(len(attacks)), Unit: "requests",
		Failures: badReqs.Load() + int64(len(attacks)-rejected) + leaked,
		Notes: fmt.Sprintf("%d of %d bad inputs rejected (slowloris, 128 KiB headers, 128 KiB WebSocket message, h2c garbage, TLS on cleartext); %d well-behaved requests ok; fds %d -> %d, goroutines %d -> %d",
			rejected, len(attacks), okReqs.Load(), baseFDs, fds, baseG, gs)})
}

// waitAtMost polls f until it returns at most want, or timeout passes, and
// returns its last value.
func waitAtMost(f func() int, want int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		v := f()
		if v <= want || time.Now().After(deadline) {
			return v
		}
		time.Sleep(20 * time.Millisecond) // connections close on their own
	}
}

var goroutineTotal = regexp.MustCompile(`goroutine profile: total (\d+)`)

// goroutines reads the replica's goroutine count from pprof on its admin
// server.
func goroutines(t *testing.T, admin string) int {
	t.Helper()
	resp, err := probeClient.Get(admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatalf("pprof: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := goroutineTotal.FindSubmatch(body)
	if m == nil {
		t.Fatalf("pprof: %s: no goroutine total in %.200q", resp.Status, body)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// slowloris opens n connections that send a header line every 200ms and
// never finish their headers; each must be closed by the replica within
// about readHeaderTimeout.
func slowloris(addr string, n int, readHeaderTimeout time.Duration) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			start := time.Now()
			closed := make(chan error, 1)
			go func() {
				// What the server says, if anything, then its close.
				_, err := io.Copy(io.Discard, c)
				closed <- err
			}()
			fmt.Fprintf(c, "GET /hello HTTP/1.1\r\nHost: %s\r\n", addr)
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			limit := time.After(readHeaderTimeout + 3*time.Second)
			for j := 0; ; j++ {
				select {
				case err := <-closed:
					if err != nil && !errors.Is(err, syscall.ECONNRESET) {
						errs[i] = err
					}
					if took := time.Since(start); took < readHeaderTimeout/2 {
						errs[i] = fmt.Errorf("closed after %v, before the header timeout", took)
					}
					return
				case <-tick.C:
					_, _ = fmt.Fprintf(c, "X-Slow-%d: x\r\n", j)
				case <-limit:
					errs[i] = fmt.Errorf("still open after %v", time.Since(start))
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// oversizedHeaders sends 128 KiB of headers: the answer must be 431 and a
// closed connection.
func oversizedHeaders(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		// The server may answer and close before it has read it all.
		_, _ = fmt.Fprintf(c, "GET /hello HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n", addr, strings.Repeat("a", 128<<10))
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return fmt.Errorf("no answer: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		return fmt.Errorf("answer %s, want 431", resp.Status)
	}
	return nil
}

// oversizedWebSocket sends a 128 KiB message on a WebSocket whose limit is
// 64 KiB: the server must close with 1009.
func oversizedWebSocket(addr string) error {
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_ = c.WriteMessage(websocket.BinaryMessage, make([]byte, 128<<10))
	for {
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce) && ce.Code == websocket.CloseMessageTooBig:
			return nil
		case err != nil:
			return fmt.Errorf("got %v, want close 1009", err)
		}
	}
}

// h2cGarbage sends, with preface, the HTTP/2 client preface followed by
// bytes that are not a frame; without, a TLS ClientHello. Either way the
// server must answer (GOAWAY or 400) and close the connection.
func h2cGarbage(addr string, preface bool) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	garbage := []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("\xff", 64))
	if preface {
		// A SETTINGS frame header announcing 16 MiB of payload (larger than
		// the default max frame size), then junk.
		garbage = append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\x04\x00\x00\x00\x00\x00"), garbage...)
	}
	if _, err := c.Write(garbage); err != nil {
		return err
	}
	got, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("the server did not close the connection: %w", err)
	}
	switch {
	case preface && len(got) >= 9 && containsGoAway(got):
		return nil
	case !preface && strings.HasPrefix(string(got), "HTTP/1.1 400"):
		return nil
	}
	return fmt.Errorf("answer %.80q, want a GOAWAY (h2c) or 400 (HTTP/1) before the close", got)
}

// containsGoAway reports whether the server's bytes hold an HTTP/2 GOAWAY
// frame header.
func containsGoAway(b []byte) bool {
	for len(b) >= 9 {
		length := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		if b[3] == 0x7 {
			return true
		}
		if 9+length > len(b) {
			return false
		}
		b = b[9+length:]
	}
	return false
}
