// Command loadservers serves the same handler from a bare net/http server
// and from a lameduck server (httpmodule.NewServer), with the same settings,
// for the request-path comparison of the benchmark suite: the suite runs
// wrk and h2load against both, in processes of their own.
//
// It prints "bare ADDR" and "lameduck ADDR", then serves until its standard
// input closes.
//
//	go run ./cmd/loadservers
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/lameduck/lameduck/httpmodule"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadservers:", err)
		os.Exit(1)
	}
}

// handler is what both servers serve: GET /hello, a small fixed body.
func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello, world\n")
	})
	return mux
}

func run() error {
	cfg := httpmodule.DefaultServerSettings("127.0.0.1:0")
	ld := httpmodule.NewServer("public", cfg, handler())
	if err := ld.Start(context.Background()); err != nil {
		return err
	}
	defer ld.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	bare := &http.Server{
		Handler: handler(), Protocols: &protos,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: int(cfg.MaxHeaderBytes),
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: cfg.MaxConcurrentStreams},
	}
	go func() { _ = bare.Serve(ln) }()
	defer bare.Close()

	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "bare %s\nlameduck %s\n", ln.Addr(), ld.Addr())
	if err := out.Flush(); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}
