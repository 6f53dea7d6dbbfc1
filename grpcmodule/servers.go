package grpcmodule

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"reflect"
	"slices"
	"strings"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/lameduck/lameduck/lifecycle"
)

// Service is one gRPC service on a named server. In an Fx application,
// modules contribute services with [AsService].
type Service struct {
	// Server names the server, a key of the servers' [Settings]. Empty
	// means [DefaultServerName] ("public").
	Server string
	// Desc describes the service: the generated pb.Xxx_ServiceDesc, or one
	// written by hand.
	Desc *grpc.ServiceDesc
	// Impl implements it (Desc.HandlerType).
	Impl any
}

// AllServers, as [Interceptor.Server], puts an interceptor on every
// server.
const AllServers = "*"

// Interceptor wraps the RPCs of a server, for example to log them, check
// authentication or recover from panics. In an Fx application, modules
// contribute interceptors with [AsInterceptor]. Interceptors run inside
// the tracking of the stop: a context they derive is cancelled with the
// RPC's at the deadline.
type Interceptor struct {
	// Server names the server: a key of the servers' [Settings], empty for
	// [DefaultServerName], or [AllServers].
	Server string
	// Name identifies the interceptor in errors.
	Name string
	// Order sorts the interceptors of one server: the lowest runs first
	// (outermost). Interceptors of equal order run in the order of their
	// names.
	Order int
	// Unary and Stream intercept unary RPCs and streams; either may be
	// nil, not both.
	Unary  grpc.UnaryServerInterceptor
	Stream grpc.StreamServerInterceptor
}

// Servers are the gRPC servers of the application, by name. The [Module]
// provides it.
type Servers struct {
	byName map[string]*Server
}

// ServersConfig is what [NewServers] builds the servers from.
type ServersConfig struct {
	Settings     Settings
	Health       *lifecycle.Health
	Services     []Service
	Interceptors []Interceptor
	Logger       *zap.Logger
}

// NewServers builds the gRPC servers of cfg, stopped: start each with
// [Server.Start] and register [Servers.Steps] with the coordinator. It
// fails, with every problem at once, for a service or interceptor that
// names a server that does not exist, a service without a description, and
// a service registered twice on one server.
func NewServers(cfg ServersConfig) (*Servers, error) {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("grpc")
	names := slices.Sorted(maps.Keys(cfg.Settings))
	servers := &Servers{byName: map[string]*Server{}}
	for _, name := range names {
		s := NewServer(name, cfg.Settings[name], WithLogger(log), WithHealth(cfg.Health))
		s.addrKey = fmt.Sprintf("grpc.%s.addr (LAMEDUCK_GRPC_%s_ADDR)", name, strings.ToUpper(name))
		servers.byName[name] = s
	}
	list := strings.Join(names, ", ")
	var errs []error
	seen := map[[2]string]bool{}
	for _, svc := range cfg.Services {
		name := cmp.Or(svc.Server, DefaultServerName)
		s := servers.byName[name]
		switch {
		case svc.Desc == nil || svc.Impl == nil:
			errs = append(errs, fmt.Errorf("grpcmodule: a service for server %q has no Desc or no Impl; set both", name))
			continue
		case s == nil:
			errs = append(errs, fmt.Errorf("grpcmodule: service %s is for server %q, which is not configured (grpc servers: %s); add grpc.%s to the config or fix Service.Server",
				svc.Desc.ServiceName, name, list, name))
			continue
		case !implements(svc):
			errs = append(errs, fmt.Errorf("grpcmodule: service %s: %T does not implement the interface Desc.HandlerType (%T) points to; fix Service.Impl",
				svc.Desc.ServiceName, svc.Impl, svc.Desc.HandlerType))
			continue
		case seen[[2]string{name, svc.Desc.ServiceName}]:
			errs = append(errs, fmt.Errorf("grpcmodule: service %s is registered twice on server %q; register it once", svc.Desc.ServiceName, name))
			continue
		}
		seen[[2]string{name, svc.Desc.ServiceName}] = true
		s.RegisterService(svc.Desc, svc.Impl)
	}
	ics := slices.Clone(cfg.Interceptors)
	slices.SortStableFunc(ics, func(a, b Interceptor) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.Name, b.Name))
	})
	for _, ic := range ics {
		name := cmp.Or(ic.Server, DefaultServerName)
		switch {
		case ic.Unary == nil && ic.Stream == nil:
			errs = append(errs, fmt.Errorf("grpcmodule: interceptor %q has neither Unary nor Stream; set one", ic.Name))
		case name == AllServers:
			for _, s := range servers.byName {
				s.Use(ic.Unary, ic.Stream)
			}
		case servers.byName[name] == nil:
			errs = append(errs, fmt.Errorf("grpcmodule: interceptor %q is for server %q, which is not configured (grpc servers: %s)", ic.Name, name, list))
		default:
			servers.byName[name].Use(ic.Unary, ic.Stream)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return servers, nil
}

// implements reports whether svc.Impl implements the interface
// svc.Desc.HandlerType points to, which grpc-go checks with a fatal log.
func implements(svc Service) bool {
	ht := reflect.TypeOf(svc.Desc.HandlerType)
	if ht == nil || ht.Kind() != reflect.Pointer || ht.Elem().Kind() != reflect.Interface {
		return false
	}
	return reflect.TypeOf(svc.Impl).Implements(ht.Elem())
}

// Server returns the server named name, or nil if there is none.
func (s *Servers) Server(name string) *Server { return s.byName[name] }

// Addr returns the address that the server named name is bound to (or was
// last bound to), or nil if there is no such server or it never started.
func (s *Servers) Addr(name string) net.Addr {
	if srv := s.byName[name]; srv != nil {
		return srv.Addr()
	}
	return nil
}

// Names returns the names of the servers, sorted.
func (s *Servers) Names() []string { return slices.Sorted(maps.Keys(s.byName)) }

// All returns every server, by name.
func (s *Servers) All() []*Server {
	out := make([]*Server, 0, len(s.byName))
	for _, n := range s.Names() {
		out = append(out, s.byName[n])
	}
	return out
}

// Steps returns the steps of every server in the stop (see [Server.Steps]).
func (s *Servers) Steps() []lifecycle.Step {
	var steps []lifecycle.Step
	for _, srv := range s.All() {
		steps = append(steps, srv.Steps()...)
	}
	return steps
}
