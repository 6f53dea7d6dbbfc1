// Command naiveapp is the baseline of the whole-stop benchmark: the part of
// examples/starter that the benchmark drives (GET /hello, GET /slow,
// POST /jobs, GET /ws), written the common way, without lameduck. On SIGTERM
// it calls http.Server.Shutdown, then sends a close frame to each WebSocket
// connection in turn and polls every 200ms until all are gone (the pattern
// commonly published for this job), then waits for the background jobs with
// a sync.WaitGroup, and exits.
//
// It logs like the starter, JSON lines on standard error: "starter ready"
// with the public URL, "job done" for each job, "stop phase ended" for each
// step of its stop and "stop ended", so that the benchmark reads both
// programs the same way.
//
//	NAIVE_ADDR=127.0.0.1:0 go run ./stop/naiveapp
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

// pollInterval is how often the hub checks whether its connections are gone.
const pollInterval = 200 * time.Millisecond

func main() {
	cfg := zap.NewProductionConfig()
	cfg.Sampling = nil // a line per job: the benchmark counts them
	log, err := cfg.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "naiveapp:", err)
		os.Exit(1)
	}
	if err := run(log); err != nil {
		log.Error("naiveapp failed", zap.Error(err))
		_ = log.Sync()
		os.Exit(1)
	}
	_ = log.Sync()
}

func run(log *zap.Logger) error {
	addr := os.Getenv("NAIVE_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	var jobs sync.WaitGroup
	hub := &hub{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over %s\n", r.Proto)
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil {
			http.Error(w, "d: want a duration", http.StatusBadRequest)
			return
		}
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
			fmt.Fprintf(w, "slept %v\n", d)
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("POST /jobs", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		n, nerr := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || nerr != nil || n < 1 {
			http.Error(w, "want d=DURATION&n=COUNT", http.StatusBadRequest)
			return
		}
		for i := range n {
			jobs.Add(1)
			go func() {
				defer jobs.Done()
				time.Sleep(d)
				log.Info("job done", zap.Int("job", i))
			}()
		}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.Handle("GET /ws", hub)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("starter ready", zap.String("public", "http://"+ln.Addr().String()))

	<-ctx.Done()
	log.Info("stop begins")
	start := time.Now()
	stopCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	phase := func(name string, f func() error) error {
		t := time.Now()
		err := f()
		log.Info("stop phase ended", zap.String("phase", name), zap.Duration("duration", time.Since(t)))
		return err
	}
	err = phase("shutdown", func() error {
		err := srv.Shutdown(stopCtx)
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	})
	err = errors.Join(err, phase("hub-drain", func() error { return hub.shutdown(stopCtx) }))
	_ = phase("wait", func() error { jobs.Wait(); return nil })
	log.Info("stop ended", zap.Duration("duration", time.Since(start)))
	return err
}

// hub is a mutex-guarded set of gorilla connections.
type hub struct {
	upgrader websocket.Upgrader
	mu       sync.Mutex
	conns    map[*websocket.Conn]struct{}
	readers  sync.WaitGroup
}

// ServeHTTP upgrades and reads the connection on a goroutine of its own
// until it ends.
func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	h.mu.Lock()
	if h.conns == nil {
		h.conns = map[*websocket.Conn]struct{}{}
	}
	h.conns[c] = struct{}{}
	h.readers.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.readers.Done()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				break
			}
		}
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		_ = c.Close()
	}()
}

func (h *hub) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// shutdown sends close 1001 to each connection in turn, then polls every
// pollInterval until every connection is gone or ctx ends.
func (h *hub) shutdown(ctx context.Context) error {
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server going away")
	h.mu.Lock()
	for c := range h.conns {
		_ = c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	}
	h.mu.Unlock()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for h.len() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("hub: %d connections left: %w", h.len(), ctx.Err())
		}
	}
	h.readers.Wait()
	return nil
}
