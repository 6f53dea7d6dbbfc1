package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/e2e/internal/body"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
)

// The servers of the integrity scenario run in the test process: the
// lameduck one is a real lameduck app (lameducktest, every module, the
// stop coordinator), stopped the way SIGTERM stops it; the bare one is a
// net/http server with the same settings, stopped with a plain Shutdown.
// Both serve body.Handler at /download, so that every response can be
// checked byte for byte, and both tell the handlers when the stop begins
// and when the shutdown begins, so that responses are placed relative to
// the GOAWAY by signals, not by sleeps.

// Events of one stop, each a channel closed once.
type stopEvent int

const (
	// evStop: the stop began (lameduck: its readiness-off phase started).
	evStop stopEvent = iota
	// evShutdown: the shutdown began (lameduck: its shutdown phase
	// started; bare: Shutdown is about to be called).
	evShutdown
	// evGoAway: a canary connection to the server received its GOAWAY
	// (h2c), or was closed as idle (HTTP/1): the server's Shutdown has
	// reached its connections.
	evGoAway
	nEvents
)

type stopEvents struct {
	ch   [nEvents]chan struct{}
	once [nEvents]sync.Once
	at   [nEvents]time.Time // written before ch[e] is closed
}

func newStopEvents() *stopEvents {
	ev := &stopEvents{}
	for i := range ev.ch {
		ev.ch[i] = make(chan struct{})
	}
	return ev
}

func (ev *stopEvents) fire(e stopEvent) {
	ev.once[e].Do(func() {
		ev.at[e] = time.Now()
		close(ev.ch[e])
	})
}

// hold says where a held response waits.
type hold int

const (
	// holdStop: at its start, until the stop begins.
	holdStop hold = iota
	// holdAcross: in its middle (half of the body written and flushed),
	// until the shutdown begins.
	holdAcross
	// holdGoAway: at its start, until evGoAway.
	holdGoAway
	// holdSleep: at its start, for a fixed 600ms (the test begins the
	// stop 200ms after every response has started).
	holdSleep
)

// sleepHold and sleepStopAfter are the wall-clock scenario that first
// showed truncated h2c responses: a handler that sleeps 600ms before it
// writes, and a stop that begins 200ms into it.
const (
	sleepHold      = 600 * time.Millisecond
	sleepStopAfter = 200 * time.Millisecond
)

// maxHold bounds any wait of a held response, so that a lost event fails
// the test instead of hanging it.
const maxHold = 20 * time.Second

// gate is the Pause of the body handler: it counts the held responses
// that started, and holds them where the stop's timing says. Requests
// without "hold=1" in their query (warm-ups, HAProxy's checks) pass.
type gate struct {
	hold    hold
	ev      *stopEvents
	entered chan string // the seed of each held response that started
}

func newGate(h hold, ev *stopEvents) *gate {
	return &gate{hold: h, ev: ev, entered: make(chan string, 4096)}
}

func (g *gate) pause(r *http.Request, at body.Point) {
	if r.URL.Query().Get("hold") != "1" {
		return
	}
	wait := func(ch <-chan struct{}) {
		t := time.NewTimer(maxHold)
		defer t.Stop()
		select {
		case <-ch:
		case <-r.Context().Done():
		case <-t.C:
		}
	}
	switch {
	case at == body.Start:
		select {
		case g.entered <- r.URL.Query().Get("seed"):
		default: // more than the test counts: it fails on the count
		}
		switch g.hold {
		case holdStop:
			wait(g.ev.ch[evStop])
		case holdGoAway:
			wait(g.ev.ch[evGoAway])
		case holdSleep:
			wait(closedAfter(sleepHold))
		}
	case at == body.Middle && g.hold == holdAcross:
		wait(g.ev.ch[evShutdown])
	}
}

// closedAfter returns a channel that is closed after d.
func closedAfter(d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	time.AfterFunc(d, func() { close(ch) })
	return ch
}

// waitEntered waits until every held response of cases has started, and
// otherwise names those that did not.
func (g *gate) waitEntered(cases []icase) error {
	want := map[string]bool{}
	for _, c := range cases {
		for _, s := range c.Streams {
			want[strconv.FormatUint(s.Seed, 10)] = true
		}
	}
	deadline := time.NewTimer(maxHold)
	defer deadline.Stop()
	n := len(want)
	for len(want) > 0 {
		select {
		case seed := <-g.entered:
			delete(want, seed)
		case <-deadline.C:
			var missing []string
			for _, c := range cases {
				for i, s := range c.Streams {
					if want[strconv.FormatUint(s.Seed, 10)] {
						missing = append(missing, fmt.Sprintf("%s c=%d stream %d (%s)", c.Client, c.Conc, i, s.Body))
					}
				}
			}
			return fmt.Errorf("only %d of %d responses started within %v; not started: %s", n-len(want), n, maxHold, strings.Join(missing, ", "))
		}
	}
	return nil
}

// stopOutcome is how a server's stop went, as the server says.
type stopOutcome struct {
	// Clean: lameduck's stop report passed lameducktest.Verify; for the
	// bare server, Shutdown returned nil.
	Clean bool
	// Note is the report's problems, or Shutdown's error.
	Note string
}

// itServer is a server of the integrity scenario.
type itServer struct {
	kind string // "lameduck" or "bare"
	slot slot   // where HAProxy finds it: its public and health-check ports
	stop func(t *testing.T) stopOutcome
}

func (s *itServer) addr() string { return s.slot.Addr() }

// The servers' kinds, as the tables name them.
const (
	kindLameduck = "lameduck"
	kindBare     = "bare net/http"
)

// startLameduck starts a lameduck app that serves the body handler at
// /download (and /canary) on its public server, and fires ev at the start
// of its readiness-off and shutdown phases.
func startLameduck(t *testing.T, preStop time.Duration, g *gate, ev *stopEvents) *itServer {
	t.Helper()
	cfg := lameducktest.Config()
	cfg.Stop.PreStopDelay = preStop
	// Room for a loaded 2-core machine under -race: sending 300 responses
	// may take seconds (the shutdown phase gets the bare server's
	// deadline), and waking the held handlers at the stop's start may
	// delay the readiness-off step past lameducktest's 500ms. The report
	// should tell what the stop did to the responses, not how busy the
	// machine was.
	cfg.Stop.Total, cfg.Stop.Shutdown = 30*time.Second, bareDeadline
	cfg.Stop.Reserve, cfg.Stop.ForceGrace = 4*time.Second, 2*time.Second
	cfg.Log.Level = "warn"
	observer := lifecycle.ObserverFunc(func(e lifecycle.Event) {
		if e.Kind != lifecycle.PhaseStarted {
			return
		}
		switch e.Phase {
		case lifecycle.ReadinessOff:
			ev.fire(evStop)
		case lifecycle.Shutdown:
			ev.fire(evShutdown)
		}
	})
	app := lameducktest.StartWith(t, cfg,
		fx.Provide(
			lameduck.AsRoute(func() httpmodule.Route {
				return httpmodule.Route{Pattern: "GET /download", Handler: body.Handler{Pause: g.pause}}
			}),
			lameduck.AsRoute(func() httpmodule.Route { return httpmodule.Route{Pattern: "GET /canary", Handler: canary} }),
			lameduck.AsObserver(func() lifecycle.Observer { return observer }),
		),
	)
	s := &itServer{kind: kindLameduck, slot: loopbackSlot(t, app.Addr(httpmodule.DefaultServerName), app.Addr(httpmodule.AdminServer))}
	s.stop = func(t *testing.T) stopOutcome {
		app.Interrupt()
		rep := app.Stop()
		if err := lameducktest.Verify(rep); err != nil {
			return stopOutcome{Note: err.Error()}
		}
		return stopOutcome{Clean: true}
	}
	return s
}

// bareDeadline is the deadline of the bare server's Shutdown, and the
// lameduck app's shutdown phase.
const bareDeadline = 10 * time.Second

// startBare starts a net/http server with the settings lameduck gives its
// public server (config.DefaultServer), HTTP/1 and h2c, that serves the
// same routes plus /readyz (for HAProxy). Its stop fires evStop, waits
// preStop (as lameduck's preStop delay does), fires evShutdown and calls
// Shutdown with a deadline of bareDeadline.
func startBare(t *testing.T, preStop time.Duration, g *gate, ev *stopEvents) *itServer {
	t.Helper()
	cfg := httpmodule.DefaultServerSettings(lameducktest.Loopback)
	mux := http.NewServeMux()
	mux.Handle("GET /download", body.Handler{Pause: g.pause})
	mux.Handle("GET /canary", canary)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	srv := &http.Server{
		Handler:           mux,
		Protocols:         new(http.Protocols),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    int(cfg.MaxHeaderBytes),
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: cfg.MaxConcurrentStreams},
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var stopOnce sync.Once
	var out stopOutcome
	stop := func(t *testing.T) stopOutcome {
		stopOnce.Do(func() {
			ev.fire(evStop)
			<-closedAfter(preStop)
			ev.fire(evShutdown)
			ctx, cancel := context.WithTimeout(context.Background(), bareDeadline)
			defer cancel()
			err := srv.Shutdown(ctx)
			if e := <-served; !errors.Is(e, http.ErrServerClosed) {
				err = errors.Join(err, e)
			}
			out = stopOutcome{Clean: err == nil}
			if err != nil {
				out.Note = "Shutdown: " + err.Error()
				_ = srv.Close()
			}
		})
		return out
	}
	t.Cleanup(func() { stop(t) })
	addr := ln.Addr()
	return &itServer{kind: kindBare, slot: loopbackSlot(t, addr.String(), addr.String()), stop: stop}
}

// loopbackSlot is the slot HAProxy knows a server by: its public address,
// and the port of its /readyz.
func loopbackSlot(t *testing.T, public, health string) slot {
	t.Helper()
	host, port, err := net.SplitHostPort(public)
	if err != nil {
		t.Fatal(err)
	}
	_, hport, err := net.SplitHostPort(health)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	hp, _ := strconv.Atoi(hport)
	return slot{Name: "r1", IP: host, Port: p, AdminPort: hp}
}

// canary answers GET /canary: the warm-up request of the h2c clients and
// the one request of the HTTP/1 canary connection.
var canary = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })

// startCanary opens an idle connection to addr that fires evGoAway when
// the server's shutdown reaches it: for h2c, when a GOAWAY frame arrives;
// for HTTP/1, when the server closes the idle keep-alive connection. It
// returns once the server serves the connection (h2c: its SETTINGS
// arrived; HTTP/1: a request was answered), and its cleanup closes it.
func startCanary(t *testing.T, h2c bool, addr string, ev *stopEvents) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(2 * time.Minute))
	br := bufio.NewReader(nc)
	served := make(chan error, 1)
	done := make(chan struct{})
	t.Cleanup(func() { nc.Close(); <-done })
	if !h2c {
		go func() {
			defer close(done)
			_, err := io.WriteString(nc, "GET /canary HTTP/1.1\r\nHost: canary\r\n\r\n")
			var resp *http.Response
			if err == nil {
				resp, err = http.ReadResponse(br, nil)
			}
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			served <- err
			if err != nil {
				return
			}
			if _, err := br.ReadByte(); err != nil { // EOF: closed as idle
				ev.fire(evGoAway)
			}
		}()
	} else {
		go func() {
			defer close(done)
			// The client preface and an empty SETTINGS frame (RFC 9113
			// section 3.4).
			_, err := io.WriteString(nc, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
			first := true
			for err == nil {
				var hdr [9]byte
				if _, err = io.ReadFull(br, hdr[:]); err != nil {
					break
				}
				length := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
				typ, flags := hdr[3], hdr[4]
				payload := make([]byte, length)
				if _, err = io.ReadFull(br, payload); err != nil {
					break
				}
				switch {
				case typ == 0x4 && flags&0x1 == 0: // SETTINGS: acknowledge
					_, err = nc.Write([]byte{0, 0, 0, 0x4, 0x1, 0, 0, 0, 0})
					if first {
						served <- err
						first = false
					}
				case typ == 0x6 && flags&0x1 == 0: // PING: answer
					_, err = nc.Write(append([]byte{0, 0, 8, 0x6, 0x1, 0, 0, 0, 0}, payload...))
				case typ == 0x7 && length >= 8: // GOAWAY
					if code := binary.BigEndian.Uint32(payload[4:8]); code == 0 {
						ev.fire(evGoAway)
					}
					nc.Close()
					return
				}
			}
			if first {
				served <- fmt.Errorf("no SETTINGS from the server: %w", err)
			}
		}()
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("canary connection to %s: %v", addr, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("canary connection to %s: not served within 10s", addr)
	}
}
