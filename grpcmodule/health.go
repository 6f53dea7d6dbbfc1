package grpcmodule

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/lifecycle"
)

// healthService is the standard health service (grpc.health.v1) of one
// run of a server. Its answers come from the application's
// lifecycle.Health, the one /readyz answers from: SERVING once the
// application has started and while every readiness check passes,
// NOT_SERVING from the instant the stop begins. Every service of the
// server has the same status, and "" (the server as a whole) too.
//
// grpc-go's own health server keeps SERVING until someone sets otherwise
// and never ends a Watch stream, which then holds GracefulStop; this one
// sends NOT_SERVING to every Watch at readiness off and ends them all when
// the shutdown begins.
type healthService struct {
	healthpb.UnimplementedHealthServer
	app      *lifecycle.Health // nil: serving while the server runs
	services map[string]bool
	recheck  time.Duration

	mu       sync.Mutex
	lameDuck chan struct{} // closed at readiness off
	ended    chan struct{} // closed when the shutdown begins
}

func newHealthService(app *lifecycle.Health, services []string, recheck time.Duration) *healthService {
	h := &healthService{app: app, services: map[string]bool{"": true}, recheck: recheck,
		lameDuck: make(chan struct{}), ended: make(chan struct{})}
	for _, s := range services {
		h.services[s] = true
	}
	return h
}

// enterLameDuck sends NOT_SERVING to every Watch stream, and answers it
// from now on.
func (h *healthService) enterLameDuck() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.lameDuck:
	default:
		close(h.lameDuck)
	}
}

// end sends NOT_SERVING to every Watch stream and ends it, so that none
// holds the stop; later Watch calls get NOT_SERVING and end at once.
func (h *healthService) end() {
	h.enterLameDuck()
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.ended:
	default:
		close(h.ended)
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// status is the status of every known service.
func (h *healthService) status(ctx context.Context) healthpb.HealthCheckResponse_ServingStatus {
	if closed(h.lameDuck) {
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
	if h.app != nil {
		if h.app.Stopping() {
			return healthpb.HealthCheckResponse_NOT_SERVING
		}
		if _, ok := h.app.Ready(ctx); !ok {
			return healthpb.HealthCheckResponse_NOT_SERVING
		}
	}
	return healthpb.HealthCheckResponse_SERVING
}

// Check answers the status of req.Service, NotFound for a service the
// server does not have.
func (h *healthService) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if !h.services[req.GetService()] {
		return nil, status.Errorf(codes.NotFound, "grpcmodule: unknown service %q", req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: h.status(ctx)}, nil
}

// List answers the status of every service, "" included.
func (h *healthService) List(ctx context.Context, _ *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	st := h.status(ctx)
	out := &healthpb.HealthListResponse{Statuses: map[string]*healthpb.HealthCheckResponse{}}
	for _, s := range slices.Sorted(maps.Keys(h.services)) {
		out.Statuses[s] = &healthpb.HealthCheckResponse{Status: st}
	}
	return out, nil
}

// errStopping ends Watch streams when the shutdown begins.
var errStopping = status.Error(codes.Unavailable, "grpcmodule: the server is stopping; watch another replica")

// Watch sends the status of req.Service (SERVICE_UNKNOWN for a service the
// server does not have) and then every change: the readiness checks run
// again every recheck interval, the stop is sent at once. The stream ends
// with UNAVAILABLE when the shutdown begins.
func (h *healthService) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx := stream.Context()
	known := h.services[req.GetService()]
	last := healthpb.HealthCheckResponse_ServingStatus(-1)
	send := func() error {
		st := healthpb.HealthCheckResponse_SERVICE_UNKNOWN
		if known {
			st = h.status(ctx)
		}
		if st == last {
			return nil
		}
		last = st
		return stream.Send(&healthpb.HealthCheckResponse{Status: st})
	}
	if err := send(); err != nil {
		return err
	}
	var tick <-chan time.Time
	if h.recheck > 0 {
		t := time.NewTicker(h.recheck)
		defer t.Stop()
		tick = t.C
	}
	lameDuck := h.lameDuck
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-h.ended:
			if err := send(); err != nil {
				return err
			}
			return errStopping
		case <-lameDuck:
			lameDuck = nil
			if err := send(); err != nil {
				return err
			}
		case <-tick:
			if err := send(); err != nil {
				return err
			}
		}
	}
}
