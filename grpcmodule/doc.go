// Package grpcmodule runs a service's gRPC servers so that they stop as
// exactly as its HTTP servers: named servers from the "grpc" section of the
// configuration (plaintext HTTP/2 by default, TLS from a certificate and
// key), services contributed as [Service] values ([AsService]) and
// interceptors as [Interceptor] values ([AsInterceptor]), and the standard
// health service (grpc.health.v1) answered from the application's
// lifecycle.Health, the one /readyz answers from.
//
// Each server's stop is a set of steps of the lifecycle coordinator:
//
//   - readiness off: the health service says NOT_SERVING for every service
//     and sends it to every open Watch stream; RPCs are still served
//     (Check says NOT_SERVING from the very instant /readyz turns 503:
//     both read the coordinator's flag);
//   - shutdown: the Watch streams end with UNAVAILABLE, so that none holds
//     the stop; the streams in flight learn that the drain began
//     ([Draining]) at instants spread over drainSpread; grpc-go's
//     GracefulStop closes the listener, sends GOAWAY and waits for the RPCs
//     in flight, and the step returns the moment it does; connections that
//     never sent a byte are closed after silentGrace; at the phase deadline
//     the contexts of the RPCs in flight are cancelled; at
//     [lifecycle.CloseBy] grpc-go's Stop runs, every connection is closed,
//     and the RPCs that cut off are named in the stop report (method, peer,
//     age).
//
// grpc-go alone has three gaps there, which the tests of this package show
// beside a bare server: GracefulStop waits without a deadline for every
// handler (one that ignores its context holds it for ever), its health
// server keeps saying SERVING and never ends a Watch (which holds
// GracefulStop), and both Stop and GracefulStop wait for a connection still
// in its HTTP/2 handshake, up to connectionTimeout (120s by default).
//
// [Module] wires it all into an Fx application built with lameduck's
// modules; without Fx, build a [Server] with [NewServer], register
// services, [Server.Start] it and register [Server.Steps] with a
// lifecycle.Coordinator. See docs/grpcmodule.md.
package grpcmodule
