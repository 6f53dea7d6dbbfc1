package httpmodule

import (
	"net"
	"slices"

	"github.com/lameduck/lameduck/lifecycle"
)

// Servers are the HTTP servers of the application, by name, and the admin
// server. The [Module] provides it; tests and code use it to find where a
// server listens (with port 0, the port is chosen at start):
//
//	resp, err := http.Get("http://" + servers.Addr("public").String() + "/hello")
type Servers struct {
	byName map[string]*Server
	admin  *Server
}

// Server returns the server named name ([AdminServer] for the admin
// server), or nil if there is none.
func (s *Servers) Server(name string) *Server {
	if name == AdminServer {
		return s.admin
	}
	return s.byName[name]
}

// Addr returns the address that the server named name is bound to (or was
// last bound to), or nil if there is no such server or it never started.
func (s *Servers) Addr(name string) net.Addr {
	srv := s.Server(name)
	if srv == nil {
		return nil
	}
	return srv.Addr()
}

// AdminAddr returns the address of the admin server, or nil if it is
// disabled or never started.
func (s *Servers) AdminAddr() net.Addr { return s.Addr(AdminServer) }

// Names returns the names of the application servers, sorted.
func (s *Servers) Names() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// All returns every server, the admin server (if enabled) first and then
// the application servers by name: the order to start them in, so that the
// admin server stops last.
func (s *Servers) All() []*Server {
	var all []*Server
	if s.admin != nil {
		all = append(all, s.admin)
	}
	for _, name := range s.Names() {
		all = append(all, s.byName[name])
	}
	return all
}

// Steps returns the steps of every server in the stop (see [Server.Steps]).
func (s *Servers) Steps() []lifecycle.Step {
	var steps []lifecycle.Step
	for _, srv := range s.All() {
		steps = append(steps, srv.Steps()...)
	}
	return steps
}
