package grpcmodule

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/lameduck/lameduck/lifecycle"
)

// Server is one named gRPC server: grpc-go's server with the settings of
// [ServerSettings], the standard health service answered from the
// application's [lifecycle.Health], optionally server reflection, and a
// stop that ends the moment the last RPC ends, cancels RPC contexts at the
// phase deadline, closes what is left at the force deadline and names what
// that cut off.
//
// The [Module] builds one Server per configured name. Without Fx, build it
// with [NewServer], register services ([Server.RegisterService], so that
// generated RegisterXxxServer functions accept it), call [Server.Start],
// and register [Server.Steps] with a [lifecycle.Coordinator].
//
// A Server can be started again after it stopped; each start builds a new
// grpc.Server with the services registered so far.
type Server struct {
	name string
	cfg  ServerSettings
	// addrKey names the setting of the address in errors.
	addrKey string
	health  *lifecycle.Health
	log     *zap.Logger
	opts    []grpc.ServerOption

	mu       sync.Mutex
	services []service
	unary    []grpc.UnaryServerInterceptor
	stream   []grpc.StreamServerInterceptor
	run      *serverRun // the running instance, nil when stopped
	last     *serverRun // the latest instance, running or not
}

type service struct {
	desc *grpc.ServiceDesc
	impl any
}

// Option configures a [Server].
type Option func(*Server)

// WithLogger sets the logger of a server. The default logs nothing.
func WithLogger(l *zap.Logger) Option { return func(s *Server) { s.log = l } }

// WithHealth makes the health service answer from h, as /readyz does:
// NOT_SERVING until h's start-up gate opens, while a readiness check
// fails, and from the instant the stop begins. Without it the health
// service answers SERVING while the server runs, until its readiness-off
// step.
func WithHealth(h *lifecycle.Health) Option { return func(s *Server) { s.health = h } }

// WithServerOptions adds grpc-go server options (a stats handler, say) to
// those the settings make. Interceptors belong in [Server.Use] instead, so
// that they run inside the RPC tracking of the stop.
func WithServerOptions(opts ...grpc.ServerOption) Option {
	return func(s *Server) { s.opts = append(s.opts, opts...) }
}

// NewServer returns a stopped server named name with the settings cfg.
func NewServer(name string, cfg ServerSettings, opts ...Option) *Server {
	s := &Server{name: name, cfg: cfg, log: zap.NewNop()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name returns the server's name, a key of the servers' [Settings].
func (s *Server) Name() string { return s.name }

// RegisterService registers a service to be served from the next start.
// It implements grpc.ServiceRegistrar, so that generated code registers
// with it: pb.RegisterGreeterServer(srv, impl).
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services = append(s.services, service{desc, impl})
}

// Use adds interceptors, which run in the order added, inside the RPC
// tracking of the stop (so a context they derive is cancelled with the
// RPC's). Either may be nil.
func (s *Server) Use(unary grpc.UnaryServerInterceptor, stream grpc.StreamServerInterceptor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if unary != nil {
		s.unary = append(s.unary, unary)
	}
	if stream != nil {
		s.stream = append(s.stream, stream)
	}
}

// Addr returns the address the server is bound to, or was bound to last
// if it has stopped; nil before its first start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return nil
	}
	return s.last.addr
}

// InFlight returns how many RPCs the server is serving now (health Watch
// streams included).
func (s *Server) InFlight() int {
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()
	if run == nil {
		return 0
	}
	return run.track.inFlight()
}

// serverOptions returns the grpc-go options of the settings.
func (s *Server) serverOptions(track *tracker) ([]grpc.ServerOption, error) {
	c := s.cfg
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(c.MaxRecvMsgSize)),
		grpc.MaxSendMsgSize(int(c.MaxSendMsgSize)),
		grpc.MaxConcurrentStreams(uint32(c.MaxConcurrentStreams)),
		grpc.ConnectionTimeout(c.ConnectionTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: c.KeepaliveMinTime, PermitWithoutStream: c.KeepalivePermitWithoutStream}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time: c.KeepaliveTime, Timeout: c.KeepaliveTimeout,
			MaxConnectionIdle: c.MaxConnectionIdle, MaxConnectionAge: c.MaxConnectionAge,
			MaxConnectionAgeGrace: c.MaxConnectionAgeGrace}),
		grpc.ChainUnaryInterceptor(append([]grpc.UnaryServerInterceptor{track.unary}, s.unary...)...),
		grpc.ChainStreamInterceptor(append([]grpc.StreamServerInterceptor{track.stream}, s.stream...)...),
	}
	if c.CertFile != "" {
		creds, err := credentials.NewServerTLSFromFile(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("grpcmodule: server %q: %w; fix certFile and keyFile (PEM files)", s.name, err)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	return append(opts, s.opts...), nil
}

// Start binds the listener, synchronously, so that a bad or busy address
// fails here with an error that names the server and the address, and
// serves in the background.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != nil {
		return fmt.Errorf("grpcmodule: server %q: already started on %s", s.name, s.run.addr)
	}
	track := newTracker()
	track.onPanic = func(method string, p any) {
		s.log.Error("grpc handler panicked", zap.String("server", s.name), zap.String("method", method),
			zap.Any("panic", p), zap.StackSkip("stack", 2))
	}
	opts, err := s.serverOptions(track)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		key := s.addrKey
		if key == "" {
			key = "the address"
		}
		return fmt.Errorf("grpcmodule: server %q: %w; free the address or change %s", s.name, err, key)
	}
	gs := grpc.NewServer(opts...)
	names := []string{healthpb.Health_ServiceDesc.ServiceName}
	for _, svc := range s.services {
		gs.RegisterService(svc.desc, svc.impl)
		names = append(names, svc.desc.ServiceName)
	}
	if s.cfg.Reflection {
		reflection.Register(gs)
		names = append(names, "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection")
	}
	health := newHealthService(s.health, names, s.cfg.HealthRecheck)
	healthpb.RegisterHealthServer(gs, health)
	run := &serverRun{s: s, gs: gs, ln: newListener(ln), addr: ln.Addr(), track: track, health: health,
		serveDone: make(chan struct{})}
	s.run, s.last = run, run
	go func() {
		defer close(run.serveDone)
		// Serve returns nil once Stop or GracefulStop ran; anything else
		// is a listener that failed while serving.
		if err := gs.Serve(run.ln); err != nil {
			s.log.Error("grpc server stopped serving", zap.String("server", s.name), zap.Error(err))
		}
	}()
	s.log.Info("grpc server listening", zap.String("server", s.name), zap.Stringer("addr", run.addr),
		zap.Bool("tls", s.cfg.CertFile != ""), zap.Bool("reflection", s.cfg.Reflection))
	return nil
}

// Steps returns the server's steps in the stop: NOT_SERVING to every health
// Watch at readiness off, and the shutdown in the shutdown phase.
func (s *Server) Steps() []lifecycle.Step {
	name := "grpc." + s.name
	return []lifecycle.Step{
		lifecycle.NewStep(lifecycle.ReadinessOff, name, func(context.Context) error {
			s.EnterLameDuck()
			return nil
		}),
		{Phase: lifecycle.Shutdown, Name: name, Stopper: shutdownStep{s}},
	}
}

// EnterLameDuck makes the health service answer NOT_SERVING for every
// service, and sends it to every open Watch stream; the server still
// serves every RPC. Its readiness-off step calls it.
func (s *Server) EnterLameDuck() {
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()
	if run != nil {
		run.health.enterLameDuck()
		run.track.enterStopping()
	}
}

// Shutdown stops the server gracefully: health Watch streams get
// NOT_SERVING and end, the streams in flight learn that the drain began
// ([Draining]) over the drainSpread, and grpc-go's GracefulStop closes the
// listener, sends GOAWAY and lets the RPCs in flight finish. It returns the
// moment the last RPC has ended and every connection is closed. When ctx is
// done the contexts of the RPCs in flight are cancelled; what still runs at
// [lifecycle.CloseBy] is cut off (grpc-go's Stop, and every connection
// closed) and named by [Server.Stragglers], with the RPCs whose handler
// panicked after readiness off (a panic answers INTERNAL instead of ending
// the process, as grpc-go would). It returns nil once stopped cleanly, an
// error saying what was cancelled, cut or panicked otherwise, and does
// nothing if the server is not running.
func (s *Server) Shutdown(ctx context.Context) error { return s.stop(ctx, false) }

// Close stops the server at once: every RPC's context cancelled, the
// connections closed. It does nothing if the server is not running (for
// example because the stop sequence stopped it already).
func (s *Server) Close() error { return s.stop(context.Background(), true) }

func (s *Server) stop(ctx context.Context, now bool) error {
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()
	if run == nil {
		return nil
	}
	err := run.stop(ctx, now)
	s.mu.Lock()
	if s.run == run {
		s.run = nil
	}
	s.mu.Unlock()
	return err
}

// Stragglers returns the RPCs that the last stop cut off, or, while a stop
// is still running, the RPCs in flight. It implements
// [lifecycle.StragglerReporter] for the server's shutdown step.
func (s *Server) Stragglers() []lifecycle.Straggler {
	s.mu.Lock()
	run := s.last
	s.mu.Unlock()
	if run == nil {
		return nil
	}
	return run.reportStragglers()
}

type shutdownStep struct{ s *Server }

func (st shutdownStep) Stop(ctx context.Context) error    { return st.s.Shutdown(ctx) }
func (st shutdownStep) Stragglers() []lifecycle.Straggler { return st.s.Stragglers() }

// serverRun is one start of a server.
type serverRun struct {
	s         *Server
	gs        *grpc.Server
	ln        *listener
	addr      net.Addr
	track     *tracker
	health    *healthService
	serveDone chan struct{}

	stopMu  sync.Mutex
	stopped bool

	cutMu      sync.Mutex
	stopping   bool
	cutDone    bool
	stragglers []lifecycle.Straggler
}

func (run *serverRun) stop(ctx context.Context, now bool) error {
	run.stopMu.Lock()
	defer run.stopMu.Unlock()
	if run.stopped {
		return nil
	}
	run.stopped = true
	start := time.Now()
	run.cutMu.Lock()
	run.stopping = true
	run.cutMu.Unlock()
	defer func() {
		run.track.stopTimers()
		run.cutMu.Lock()
		run.cutDone = true
		run.cutMu.Unlock()
	}()

	run.health.end()
	run.track.enterStopping()
	var err error
	if now {
		err = run.cutOff(ctx, "closed")
	} else {
		run.track.drain(lifecycle.SpreadWindow(ctx, run.s.cfg.DrainSpread))
		graceful := make(chan struct{})
		go func() {
			defer close(graceful)
			run.gs.GracefulStop()
		}()
		err = run.wait(ctx, graceful, start)
	}
	if err == nil {
		err = run.panicError()
	}
	fields := []zap.Field{zap.String("server", run.s.name), zap.Duration("duration", time.Since(start))}
	if cut := len(run.reportStragglers()); cut > 0 {
		run.s.log.Warn("grpc server stopped; RPCs were cut off", append(fields, zap.Int("cut", cut))...)
	} else {
		run.s.log.Info("grpc server stopped", fields...)
	}
	return err
}

// wait waits for GracefulStop, closing connections that stay silent, and
// forces the end when ctx is done.
func (run *serverRun) wait(ctx context.Context, graceful <-chan struct{}, start time.Time) error {
	silent := time.NewTimer(run.s.cfg.SilentGrace)
	defer silent.Stop()
	for {
		select {
		case <-graceful:
			<-run.serveDone
			return nil
		case <-silent.C:
			if next := run.ln.closeSilent(start, run.s.cfg.SilentGrace); next > 0 {
				silent.Reset(next)
			}
		case <-ctx.Done():
			return run.force(ctx, graceful)
		}
	}
}

// force runs once the phase deadline passed: RPC contexts are cancelled,
// and what still runs when the step must return is cut off. RPCs that
// return once cancelled are not stragglers, but the stop cut their work
// short: the error says how many.
func (run *serverRun) force(ctx context.Context, graceful <-chan struct{}) error {
	cancelled := run.track.cancelAll()
	timer := time.NewTimer(time.Until(lifecycle.CloseBy(ctx)))
	defer timer.Stop()
	select {
	case <-graceful:
		<-run.serveDone
		if cancelled > 0 {
			return fmt.Errorf("grpcmodule: server %q: the deadline cancelled the context of %d RPC(s), which then returned",
				run.s.name, cancelled)
		}
		return nil
	case <-timer.C:
		return run.cutOff(ctx, "still running at the force deadline")
	}
}

// cutOff records the RPCs in flight, then stops the grpc.Server and closes
// every connection. It waits for grpc-go's Stop until the force deadline at
// most: Stop returns once the connections are closed, but a GracefulStop
// still running waits for handlers that ignore their context, and those
// run on after this returns.
func (run *serverRun) cutOff(ctx context.Context, why string) error {
	run.track.cancelAll()
	stragglers := run.track.stragglers(run.s.name)
	run.cutMu.Lock()
	run.stragglers = stragglers
	run.cutMu.Unlock()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		run.gs.Stop()
	}()
	run.ln.closeAll() // Stop waits for connections still in their handshake
	bound := time.NewTimer(max(time.Until(forceDeadline(ctx)), 0))
	defer bound.Stop()
	select {
	case <-stopped:
	case <-bound.C:
	}
	if len(stragglers) == 0 {
		return nil
	}
	return fmt.Errorf("grpcmodule: server %q: %d RPC(s) %s were cut off; first: %s",
		run.s.name, len(stragglers), why, stragglers[0])
}

func forceDeadline(ctx context.Context) time.Time {
	if fd, ok := lifecycle.ForceDeadline(ctx); ok {
		return fd
	}
	return time.Now().Add(lifecycle.DefaultForceGrace)
}

// panicError reports the RPCs whose handler panicked during the stop.
func (run *serverRun) panicError() error {
	p := run.track.panicked()
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("grpcmodule: server %q: %d RPC(s) ended in a handler panic during the stop; first: %s",
		run.s.name, len(p), p[0])
}

// reportStragglers returns what the stop cut off, or, while it runs, the
// RPCs in flight; with the RPCs whose handler panicked during the stop
// either way.
func (run *serverRun) reportStragglers() []lifecycle.Straggler {
	run.cutMu.Lock()
	cut, final, stopping := run.stragglers, run.cutDone || run.stragglers != nil, run.stopping
	run.cutMu.Unlock()
	if !final {
		if !stopping {
			return nil
		}
		cut = run.track.stragglers(run.s.name)
	}
	return append(run.track.panicked(), cut...)
}
