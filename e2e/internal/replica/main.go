// Command replica is a lameduck service for the reliability suite (package
// e2e). It serves the routes of examples/starter, so that the suite could run
// before the starter existed, plus routes that misbehave on purpose for the
// fault scenarios:
//
//	GET  /hello                  200 "hello"
//	GET  /download?seed=7&size=N a body the client can check byte for byte (internal/body)
//	GET  /slow?d=2s              waits d honouring its context: 200, or 503 when cancelled
//	GET  /poll                   returns when a message is published or its context ends
//	GET  /ws                     WebSocket on hub "feed": echoes, relays everything published
//	POST /publish                body = message: sent to every /ws client, wakes /poll waiters
//	POST /jobs?d=1s&n=1          202 listing the names of n background tasks ("job-7") of duration d
//	GET  /events                 Server-Sent Events: the ticks of internal/ticks, from Last-Event-ID; "bye" at the drain
//	GET  /stubborn?d=1h          FAULT: flushes its headers, then sleeps d ignoring its context
//	POST /jobs?d=1h&stubborn=1   FAULT: tasks ("stubborn-job-8") that ignore cancellation
//
// Each background task logs "job done" (field "job") when it completes. Every
// setting comes from LAMEDUCK_* variables, as in any lameduck service.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/e2e/internal/body"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/wsmodule"
)

func main() {
	lameduck.Run(
		lameduck.WebSocketHub("feed", "", "GET /ws", func() []wsmodule.Option {
			return []wsmodule.Option{wsmodule.OnMessage(func(c *wsmodule.Conn, typ wsmodule.MessageType, data []byte) {
				_ = c.Send(typ, data)
			})}
		}),
		fx.Provide(newPollers),
		fx.Provide(
			lameduck.AsRoute(helloRoute),
			lameduck.AsRoute(downloadRoute),
			lameduck.AsRoute(slowRoute),
			lameduck.AsRoute(pollRoute),
			lameduck.AsRoute(publishRoute),
			lameduck.AsRoute(jobsRoute),
			lameduck.AsRoute(stubbornRoute),
			lameduck.AsRoute(eventsRoute),
		),
	)
}

func helloRoute() httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /hello", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello\n")
	})}
}

func downloadRoute() httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /download", Handler: body.Handler{}}
}

func duration(r *http.Request, def time.Duration) (time.Duration, bool) {
	s := r.URL.Query().Get("d")
	if s == "" {
		return def, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d >= 0
}

func slowRoute() httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /slow", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := duration(r, time.Second)
		if !ok {
			http.Error(w, "bad d", http.StatusBadRequest)
			return
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			_, _ = io.WriteString(w, "done\n")
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusServiceUnavailable)
		}
	})}
}

// pollers wakes every waiting /poll request when a message is published.
type pollers struct {
	mu   sync.Mutex
	wake chan struct{}
	last []byte
}

func newPollers() *pollers { return &pollers{wake: make(chan struct{})} }

func (p *pollers) publish(msg []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = msg
	close(p.wake)
	p.wake = make(chan struct{})
}

func (p *pollers) waitChan() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wake
}

func (p *pollers) message() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

func pollRoute(p *pollers) httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /poll", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-p.waitChan():
			_, _ = w.Write(p.message())
		case <-r.Context().Done():
			w.WriteHeader(http.StatusNoContent)
		}
	})}
}

// feed is the hub that Declare named "feed".
type feed struct {
	fx.In
	Hub *wsmodule.Hub `name:"feed"`
}

func publishRoute(f feed, p *pollers) httpmodule.Route {
	hub := f.Hub
	return httpmodule.Route{Pattern: "POST /publish", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		n, _ := hub.Broadcast(wsmodule.TextMessage, msg)
		p.publish(msg)
		_, _ = io.WriteString(w, strconv.Itoa(n)+"\n")
	})}
}

func jobsRoute(pool *bgwork.Pool, log *zap.Logger) httpmodule.Route {
	return httpmodule.Route{Pattern: "POST /jobs", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := duration(r, time.Second)
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("n") == "" {
			n, err = 1, nil
		}
		if !ok || err != nil || n < 1 || n > 1000 {
			http.Error(w, "bad d or n", http.StatusBadRequest)
			return
		}
		stubborn := r.URL.Query().Get("stubborn") != ""
		var started []string
		for range n {
			name := fmt.Sprintf("job-%d", jobSeq.Add(1))
			task := func(ctx context.Context) error {
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-t.C:
				case <-ctx.Done():
					return context.Cause(ctx)
				}
				log.Info("job done", zap.String("job", name), zap.Duration("d", d))
				return nil
			}
			if stubborn {
				name = "stubborn-" + name
				task = func(context.Context) error {
					time.Sleep(d) // FAULT: ignores cancellation
					log.Info("job done", zap.String("job", name), zap.Duration("d", d))
					return nil
				}
			}
			if err := pool.Go(r.Context(), name, task); err != nil {
				if len(started) == 0 {
					http.Error(w, err.Error(), http.StatusServiceUnavailable)
					return
				}
				w.WriteHeader(http.StatusAccepted)
				_, _ = fmt.Fprintf(w, "%s\nonly %d of %d started: %v\n", strings.Join(started, "\n"), len(started), n, err)
				return
			}
			started = append(started, name)
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, strings.Join(started, "\n")+"\n")
	})}
}

// jobSeq numbers the jobs, as the starter does.
var jobSeq atomic.Uint64

func stubbornRoute() httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /stubborn", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := duration(r, time.Hour)
		if !ok {
			http.Error(w, "bad d", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush() // the client now knows the request is in flight
		time.Sleep(d)                         // FAULT: ignores its context
		_, _ = io.WriteString(w, "done\n")
	})}
}
