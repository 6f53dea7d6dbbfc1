// Command naive is the replica the reliability suite (package e2e) compares
// lameduck against: the same routes as examples/starter, served the way a
// service is commonly written by hand. On SIGTERM or SIGINT it calls
// http.Server.Shutdown at once and exits: no readiness flip, no preStop
// delay, WebSocket connections and background goroutines are not waited for.
//
// It reads the same LAMEDUCK_SERVERS_PUBLIC_ADDR and LAMEDUCK_ADMIN_ADDR
// variables as a lameduck service, and LAMEDUCK_SERVERS_PUBLIC_TLS_CERT_FILE
// and _KEY_FILE, with which it serves HTTP/1.1 and HTTP/2 over TLS (it
// ignores the other LAMEDUCK_* variables), so the suite starts both kinds the same way. Its admin server
// answers /readyz and /livez with 200 until the process exits.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck/e2e/internal/body"
)

func main() {
	log, err := zap.NewProduction()
	if err != nil {
		panic(err)
	}
	addr := envOr("LAMEDUCK_SERVERS_PUBLIC_ADDR", ":8080")
	adminAddr := envOr("LAMEDUCK_ADMIN_ADDR", ":9090")

	h := &hub{conns: map[*websocket.Conn]*sync.Mutex{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello\n") })
	mux.Handle("GET /download", body.Handler{})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		select {
		case <-time.After(d):
			_, _ = io.WriteString(w, "done\n")
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /ws", h.serve)
	mux.HandleFunc("GET /events", events)
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		msg, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		_, _ = io.WriteString(w, strconv.Itoa(h.broadcast(msg))+"\n")
	})
	mux.HandleFunc("POST /jobs", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil {
			n = 1
		}
		w.WriteHeader(http.StatusAccepted)
		for range n {
			name := fmt.Sprintf("job-%d", jobSeq.Add(1))
			go func() { // nobody waits for these
				time.Sleep(d)
				log.Info("job done", zap.String("job", name), zap.Duration("d", d))
			}()
			_, _ = fmt.Fprintln(w, name)
		}
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	certFile, keyFile := os.Getenv("LAMEDUCK_SERVERS_PUBLIC_TLS_CERT_FILE"), os.Getenv("LAMEDUCK_SERVERS_PUBLIC_TLS_KEY_FILE")
	if certFile != "" {
		srv.Protocols.SetUnencryptedHTTP2(false)
		srv.Protocols.SetHTTP2(true) // HTTP/2 over TLS, by ALPN
	}

	admin := http.NewServeMux()
	ok := func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") }
	admin.HandleFunc("GET /readyz", ok)
	admin.HandleFunc("GET /livez", ok)
	adminSrv := &http.Server{Addr: adminAddr, Handler: admin, ReadHeaderTimeout: 5 * time.Second}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal("listen", zap.Error(err))
	}
	adminLn, err := net.Listen("tcp", adminAddr)
	if err != nil {
		log.Fatal("listen admin", zap.Error(err))
	}
	go func() { _ = adminSrv.Serve(adminLn) }()
	served := make(chan error, 1)
	go func() {
		if certFile != "" {
			served <- srv.ServeTLS(ln, certFile, keyFile)
			return
		}
		served <- srv.Serve(ln)
	}()
	log.Info("serving", zap.String("addr", addr), zap.String("admin", adminAddr))

	<-sigs
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(ctx)
	if e := <-served; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	_ = adminSrv.Close()
	log.Info("stopped", zap.Duration("duration", time.Since(start)), zap.Error(err))
	_ = log.Sync()
}

// jobSeq numbers the jobs, as the starter does.
var jobSeq atomic.Uint64

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// hub is the usual hand-written broadcast hub: a map of connections, a
// mutex per connection for writes.
type hub struct {
	mu    sync.Mutex
	conns map[*websocket.Conn]*sync.Mutex
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 20)
	wmu := new(sync.Mutex)
	h.mu.Lock()
	h.conns[c] = wmu
	h.mu.Unlock()
	go func() {
		defer func() {
			h.mu.Lock()
			delete(h.conns, c)
			h.mu.Unlock()
			_ = c.Close()
		}()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			wmu.Lock()
			err = c.WriteMessage(typ, msg)
			wmu.Unlock()
			if err != nil {
				return
			}
		}
	}()
}

func (h *hub) broadcast(msg []byte) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for c, wmu := range h.conns {
		wmu.Lock()
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		if c.WriteMessage(websocket.TextMessage, msg) == nil {
			n++
		}
		wmu.Unlock()
	}
	return n
}
