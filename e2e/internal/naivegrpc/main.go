// Command naivegrpc is the gRPC replica the reliability suite compares
// lameduck against: the starter's Feed service on a bare grpc-go server,
// stopped the way a service is commonly written by hand. grpc-go's health
// server says SERVING; on SIGTERM or SIGINT the server calls GracefulStop
// at once, and Stop if that has not returned in 10s, and exits: no
// readiness flip, no preStop delay, nothing tells streams to end.
//
// It reads LAMEDUCK_GRPC_PUBLIC_ADDR and LAMEDUCK_ADMIN_ADDR as a lameduck
// service does; its admin server answers /readyz with 200 until the
// process exits.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/lameduck/lameduck/examples/starter/grpcfeed"
)

func main() {
	ln, err := net.Listen("tcp", envOr("LAMEDUCK_GRPC_PUBLIC_ADDR", ":9000"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	admin, err := net.Listen("tcp", envOr("LAMEDUCK_ADMIN_ADDR", ":9090"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	go func() { _ = http.Serve(admin, mux) }()

	srv := grpc.NewServer()
	srv.RegisterService(&grpcfeed.Desc, &grpcfeed.Feed{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-sig
		start := time.Now()
		done := make(chan struct{})
		go func() { srv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			srv.Stop()
		}
		fmt.Printf("{\"msg\":\"stopped\",\"took\":%q}\n", time.Since(start).String())
	}()
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	<-stopped
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
