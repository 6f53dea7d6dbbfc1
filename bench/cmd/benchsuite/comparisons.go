package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// A comparison is one section of the report: one of the eight comparisons
// of the benchmark suite, with the jobs that measure it, its tables and its
// chart.
type comparison struct {
	num     int
	title   string
	intro   string   // markdown: what runs against what, and how
	jobs    []string // the jobs whose results it shows
	tables  []*tableSpec
	chart   string // the chart's file name under benchmarks/, if any
	details string // the module's own page under benchmarks/, linked if present
}

// jobList returns the suite's jobs: in quick mode fewer iterations, a
// coarser sweep and shorter load runs.
func jobList(quick bool) []*job {
	pick := func(full, q string) string {
		if quick {
			return q
		}
		return full
	}
	ends := "0ms,50ms,100ms,200ms,300ms,400ms,500ms,600ms,700ms,800ms,900ms,1000ms,1100ms,1200ms,1300ms,1400ms,1500ms"
	if quick {
		ends = "0ms,300ms,600ms,1100ms"
	}
	return []*job{
		{name: "request-path", run: func(ctx context.Context, s *suite, round int) ([]byte, error) { return s.runLoad(ctx, round) }},
		{name: "http-tracking", module: "root", pkg: "./httpmodule",
			bench: "^BenchmarkServerMiddleware$", benchtime: pick("300ms", "50ms")},
		{name: "http-shutdown", module: "root", pkg: "./httpmodule",
			bench: "^BenchmarkShutdownAfterLastRequest$", benchtime: "1x"},
		{name: "shutdown-staircase", module: "bench", pkg: "./shutdown",
			bench: "^BenchmarkShutdownStaircase$", benchtime: "1x", args: []string{"-ends=" + ends}, maxRounds: 3},
		{name: "http-idle", module: "root", pkg: "./httpmodule",
			bench: "^BenchmarkShutdownIdle$", benchtime: "1x"},
		{name: "ws-drain", module: "root", pkg: "./wsmodule",
			bench: "^BenchmarkDrain$", benchtime: "1x"},
		{name: "ws-memory", module: "bench", pkg: "./ws",
			bench: "^BenchmarkIdleConnMemory$", benchtime: "1x", maxRounds: 3},
		{name: "ws-broadcast", module: "root", pkg: "./wsmodule",
			bench: "^BenchmarkBroadcast$", benchtime: pick("300x", "100x")},
		{name: "pool-empty", module: "bench", pkg: "./pool",
			bench: "^BenchmarkEmpty$", benchtime: pick("300000x", "100000x")},
		{name: "pool-sleep", module: "bench", pkg: "./pool",
			bench: "^BenchmarkSleep$", benchtime: pick("20000x", "10000x")},
		{name: "pool-cpu", module: "bench", pkg: "./pool",
			bench: "^Benchmark(CPU|Spin)$", benchtime: pick("100000x", "10000x")},
		{name: "pool-drain", module: "bench", pkg: "./pool",
			bench: "^BenchmarkDrainDeadline$", benchtime: pick("3x", "1x")},
		{name: "bgwork-go", module: "root", pkg: "./bgwork",
			bench: "^BenchmarkGo$", benchtime: pick("100000x", "20000x")},
		{name: "whole-stop", module: "bench", pkg: "./stop",
			bench: "^BenchmarkWholeStop$", benchtime: "1x"},
		{name: "grpc-throughput", module: "root", pkg: "./grpcmodule",
			bench: "^BenchmarkGRPC(Unary|Stream)$", benchtime: pick("20000x", "3000x")},
		{name: "grpc-tracking", module: "root", pkg: "./grpcmodule",
			bench: "^BenchmarkTracking$", benchtime: pick("300ms", "50ms")},
		{name: "grpc-stop", module: "root", pkg: "./grpcmodule",
			bench: "^BenchmarkGRPCStopAfterLastRPC$", benchtime: pick("20x", "5x")},
	}
}

// Targets: each states a goal and, in its text, why it matters to a user.

func lameduckRow(cs, impl string) bool { return impl == "lameduck" }

func atMost(impl, unit string, limit float64, format func(float64) string, why string) target {
	return target{
		text:    fmt.Sprintf("≤ %s: %s", format(limit), why),
		applies: func(cs, i string) bool { return i == impl },
		check: func(v lookup) (bool, string) {
			x, ok := v.median(impl, unit)
			return ok && x <= limit, format(x)
		},
	}
}

func comparisons() []*comparison {
	ms := func(u string) metric { return metric{unit: u, label: u, format: fmtMs, ratio: true} }
	nsop := metric{unit: "ns/op", label: "time/op", format: fmtNs, ratio: true}
	allocs := metric{unit: "allocs/op", label: "allocs/op", format: fmtCount, exact: true}
	bytesop := metric{unit: "B/op", label: "B/op", format: fmtBytes}
	poolOrder := []string{"bgwork", "goroutines+WaitGroup", "errgroup", "conc", "ants", "pond"}
	poolMetrics := []metric{{unit: "ns/op", label: "time/task", format: fmtNs, ratio: true},
		{unit: "cpu-ns/op", label: "CPU/task", format: fmtNs, ratio: true}, bytesop, allocs}
	// A task is an audit write or a webhook (milliseconds); the pool's share
	// of it must stay far below that.
	cheapTask := target{
		text:    "≤ 5 µs of CPU per task: 0.5% of a 1 ms task",
		applies: func(cs, impl string) bool { return impl == "bgwork" },
		check: func(v lookup) (bool, string) {
			x, ok := v.median("bgwork", "cpu-ns/op")
			return ok && x <= 5000, fmtNs(x) + " CPU/task"
		},
	}
	cheapGo := target{
		text:    "≤ 5 µs per task: 0.5% of a 1 ms task",
		applies: func(cs, impl string) bool { return impl == "bgwork" },
		check: func(v lookup) (bool, string) {
			x, ok := v.median("bgwork", "ns/op")
			return ok && x <= 5000, fmtNs(x)
		},
	}
	// With 1 ms tasks, the pool's own cost must not show in the batch time.
	likePond := target{
		text: "bounded, 1 ms tasks: within 1.05× of pond's time",
		applies: func(cs, impl string) bool {
			return impl == "bgwork" && !strings.Contains(cs, "limit=0")
		},
		check: func(v lookup) (bool, string) {
			r, ok := v.ratio("bgwork", "pond", "ns/op")
			return ok && r <= 1.05, formatRatio(r)
		},
	}

	return []*comparison{
		{
			num: 1, title: "Request path: bare net/http vs a lameduck server",
			intro: "The same handler (`GET /hello`, a 13-byte body) and the same settings, served by a bare " +
				"`net/http` server, by a lameduck server (`httpmodule.NewServer`: lame-duck check, request " +
				"and connection tracking) and by a lameduck server with its metrics on (`metrics.New` watching " +
				"it with the per-route gauge, its registry scraped every 100 ms: 150 times as often as a 15 s " +
				"scrape interval), all in `bench/cmd/loadservers`. The metrics are read at scrape time from the " +
				"server's own tracking, so the request path is the same code with and without them. HTTP/1.1 load from `wrk` (1 thread, " +
				"%WRKCONNS% connections), h2c load from `h2load` (1 thread, %H2CONNS% connections × %STREAMS% streams), " +
				"%LOADTIME% per measurement, each tool in its own process. %PINNING% Each round starts with the next server, so that " +
				"each is measured first, second and third as often. Latencies: wrk's `--latency` distribution; for h2load, computed from " +
				"its `--log-file` (every request's time to the end of its response).",
			jobs: []string{"request-path"},
			tables: []*tableSpec{{
				title: "Throughput and latency", job: "request-path", bench: regexp.MustCompile(`^RequestPath$`),
				col: "server", baseline: "bare", order: []string{"lameduck", "lameduck+metrics", "bare"},
				metrics: []metric{
					{unit: "req/s", label: "requests/s", format: fmtRate, ratio: true},
					{unit: "p50-µs", label: "p50 latency", format: fmtUs, ratio: true},
					{unit: "p99-µs", label: "p99 latency", format: fmtUs, ratio: true},
				},
				targets: []target{{
					text: "throughput ≥ 0.98× bare: tracking costs at most 2% of the request path", applies: lameduckRow,
					check: func(v lookup) (bool, string) {
						r, ok := v.ratio("lameduck", "bare", "req/s")
						return ok && r >= 0.98, formatRatio(r)
					},
				}, {
					text: "metrics on: throughput ≥ 0.98× bare", applies: func(cs, impl string) bool { return impl == "lameduck+metrics" },
					check: func(v lookup) (bool, string) {
						r, ok := v.ratio("lameduck+metrics", "bare", "req/s")
						return ok && r >= 0.98, formatRatio(r)
					},
				}},
			}, {
				title: "Over TLS, same certificate", job: "request-path", bench: regexp.MustCompile(`^RequestPathTLS$`),
				col: "server", baseline: "bare", order: []string{"lameduck", "bare"},
				metrics: []metric{
					{unit: "req/s", label: "requests/s", format: fmtRate, ratio: true},
					{unit: "p50-µs", label: "p50 latency", format: fmtUs, ratio: true},
					{unit: "p99-µs", label: "p99 latency", format: fmtUs, ratio: true},
				},
				targets: []target{{
					text: "throughput ≥ 0.98× bare over TLS: the TLS listener sits on the same tracking listener, which must cost no more than in cleartext", applies: lameduckRow,
					check: func(v lookup) (bool, string) {
						r, ok := v.ratio("lameduck", "bare", "req/s")
						return ok && r >= 0.98, formatRatio(r)
					},
				}},
				note: "A bare `net/http` server doing `ServeTLS` and a lameduck server with `tls.certFile`, both with HTTP/1.1 and HTTP/2 by ALPN and the same self-signed ECDSA P-256 certificate made by `bench/cmd/loadservers`; wrk speaks HTTP/1.1 over TLS, h2load HTTP/2 over TLS (`https://` URLs). Connections are made once per measurement, so the numbers are the request path over established TLS sessions, not handshakes. The two servers alternate which is measured first.",
			}},
			details: "httpmodule.md",
		},
		{
			num: 2, title: "Request tracking overhead",
			intro: "The whole per-request cost a lameduck server adds in front of a handler (lame-duck check, " +
				"request tracking in a mutex-guarded map with its start time, the deferred panic check) against " +
				"calling the handler directly, serial and with both cores contending " +
				"(`httpmodule/middleware_bench_test.go`). Section 1 shows what that is worth end to end.",
			jobs: []string{"http-tracking"},
			tables: []*tableSpec{
				{
					title: "Whole server middleware", job: "http-tracking", bench: regexp.MustCompile(`^ServerMiddleware$`),
					col: "impl", baseline: "bare", order: []string{"lameduck", "bare"},
					metrics: []metric{nsop, bytesop, allocs},
				},
			},
			details: "httpmodule.md",
		},
		{
			num: 3, title: "Shutdown latency after the last request ends",
			intro: "One request is in its handler when the shutdown starts; it ends 10 ms, 300 ms or 1.1 s later. " +
				"Measured: the time from the handler's return to the return of the shutdown. Plain " +
				"`http.Server.Shutdown` polls for idle connections with a backoff from 1 ms up to 500 ms, so it " +
				"returns on the next poll; a lameduck server returns when the request and its connection end " +
				"(`httpmodule` `BenchmarkShutdownAfterLastRequest`). The chart sweeps the end time from 0 to 1.5 s " +
				"(`bench/shutdown`, medians of up to 3 runs per point): plain `Shutdown`'s return time is a " +
				"staircase, lameduck's follows the request.",
			jobs: []string{"http-shutdown", "shutdown-staircase"},
			tables: []*tableSpec{{
				title: "Lag after the request's end", job: "http-shutdown", bench: regexp.MustCompile(`^ShutdownAfterLastRequest$`),
				col: "impl", baseline: "plain", order: []string{"lameduck", "plain"},
				metrics: []metric{{unit: "lag-µs", label: "lag after the request", format: fmtUs, ratio: true}},
				targets: []target{atMost("lameduck", "lag-µs", 2000, fmtUs, "a stop is as long as its work")},
			}},
			chart:   "shutdown-staircase.svg",
			details: "httpmodule.md",
		},
		{
			num: 4, title: "Shutdown with only idle connections",
			intro: "The shutdown of a server whose connections are all idle: 10,000 HTTP/1.1 keep-alive connections " +
				"(held by a client in a second process) and 100 h2c connections (Go's HTTP/2 client, one request " +
				"each, which from Go 1.27 on closes an idle connection when it reads the GOAWAY). Plain " +
				"`Shutdown` returns at the next tick of its polling loop after the last connection closed; a " +
				"lameduck server returns when the last one closes (`httpmodule` `BenchmarkShutdownIdle`). Both " +
				"close the idle HTTP/1 connections the same way, through `http.Server.Shutdown`. An HTTP/2 " +
				"connection that its client keeps open after the GOAWAY (Go 1.26's client, for one) is closed by " +
				"net/http one second after its last stream ended, and a lameduck shutdown waits for that: " +
				"lameduck used to read the server's outgoing frames to close such a connection at once, and that " +
				"cut the last DATA frame of responses still being flushed; it now leaves the close to net/http " +
				"and pays up to that second once per stop, not per connection (`httpmodule` " +
				"`TestHTTP2ClosesIdleConnectionOneSecondAfterGoAway`).",
			jobs: []string{"http-idle"},
			tables: []*tableSpec{{
				title: "Shutdown duration", job: "http-idle", bench: regexp.MustCompile(`^ShutdownIdle$`),
				col: "impl", baseline: "plain", order: []string{"lameduck", "plain"},
				metrics: []metric{ms("shutdown-ms")},
				targets: []target{
					{text: "< 100 ms: a stop waits for work, not for idle connections", applies: func(cs, impl string) bool { return impl == "lameduck" && strings.Contains(cs, "proto=http1") },
						check: func(v lookup) (bool, string) {
							x, ok := v.median("lameduck", "shutdown-ms")
							return ok && x < 100, fmtMs(x)
						}},
					{text: "< 200 ms: a stop waits for work, not for idle connections", applies: func(cs, impl string) bool { return impl == "lameduck" && strings.Contains(cs, "proto=h2c") },
						check: func(v lookup) (bool, string) {
							x, ok := v.median("lameduck", "shutdown-ms")
							return ok && x < 200, fmtMs(x)
						}},
				},
			}},
			details: "httpmodule.md",
		},
		{
			num: 5, title: "WebSocket: drain, memory per idle connection, broadcast",
			intro: "Clients are gorilla clients in a second process (`wsmodule/internal/wsclients`): a process " +
				"here may hold at most 20,000 file descriptors. **Drain**: wsmodule's `Hub.Stop` against a " +
				"naive hub that sends close frames one connection after another and polls for emptiness every " +
				"200 ms (the pattern commonly published for this job), until every close handshake is complete " +
				"(`wsmodule` `BenchmarkDrain`). **Memory**: Go heap + goroutine stacks after GC per idle " +
				"connection, 10,000 connections, each server in a fresh process: fresh after the handshake, " +
				"and idle again after one message each way (`bench/ws`). **Broadcast**: 128-byte messages to " +
				"1,000 clients, delivered and acknowledged, against a mutex-guarded gorilla hub that writes to " +
				"each connection in turn (`wsmodule` `BenchmarkBroadcast`).",
			jobs: []string{"ws-drain", "ws-memory", "ws-broadcast"},
			tables: []*tableSpec{
				{
					title: "Drain", job: "ws-drain", bench: regexp.MustCompile(`^Drain$`),
					col: "hub", baseline: "naive", order: []string{"lameduck", "naive"},
					metrics: []metric{
						{unit: "ns/op", label: "drain time", format: fmtNs, ratio: true},
						{unit: "server-cpu-ms/op", label: "server CPU", format: fmtMs, ratio: true},
					},
					targets: []target{{
						text: "10,000 clients < 1 s: a fifth of the default 5s hub-drain cap",
						applies: func(cs, impl string) bool {
							return impl == "lameduck" && strings.Contains(cs, "clients=10000")
						},
						check: func(v lookup) (bool, string) { x, ok := v.median("lameduck", "ns/op"); return ok && x < 1e9, fmtNs(x) },
					}},
				},
				{
					title: "Memory per idle connection", job: "ws-memory", bench: regexp.MustCompile(`^IdleConnMemory$`),
					col: "server", baseline: "gorilla-default",
					order:   []string{"lameduck", "gorilla-default", "gorilla-1k-pool", "coder"},
					metrics: []metric{{unit: "B/conn", label: "heap + stacks per connection", format: fmtBytes, ratio: true}},
					targets: []target{atMost("lameduck", "B/conn", 6144, fmtBytes, "100,000 idle connections in 600 MiB")},
					note: "gorilla-default: `websocket.Upgrader{}`; gorilla-1k-pool: 1 KiB buffers and a " +
						"`WriteBufferPool`; coder: `github.com/coder/websocket`. Each reads its connection on a " +
						"goroutine of its own; lameduck's count includes its send queue and writer.",
				},
				{
					title: "Broadcast throughput", job: "ws-broadcast", bench: regexp.MustCompile(`^Broadcast$`),
					col: "hub", baseline: "mutex", order: []string{"lameduck", "mutex"},
					metrics: []metric{{unit: "msgs/s", label: "messages delivered/s", format: fmtRate, ratio: true}},
					note: "No target: the comparison shows what the per-connection queue and writer " +
						"goroutine cost or gain against writing under one lock.",
				},
			},
			chart:   "ws-drain.svg",
			details: "wsmodule.md",
		},
		{
			num: 6, title: "Background tasks: bgwork vs goroutines, errgroup, conc, ants, pond",
			intro: "Each batch creates a pool, submits its tasks and waits for all of them, so time/task " +
				"includes the task's share of set-up and drain (`bench/pool`). The workloads: (a) " +
				"100,000 empty tasks, unbounded and limit 8; (b) 10,000 tasks that sleep 1 ms, limit 100; " +
				"(c) 10,000 CPU tasks of about 1 µs (`BenchmarkSpin` measures one), limit GOMAXPROCS. The " +
				"baseline is plain goroutines with a `sync.WaitGroup` (and a channel semaphore for a limit). " +
				"**Drain with a deadline**: 10,000 tasks of which 10 never return until released, then a stop " +
				"with a 100 ms deadline: the time until the stop returns (submitting included) and how many " +
				"of the 10 hung tasks the library can count and name afterwards.",
			jobs: []string{"pool-empty", "pool-sleep", "pool-cpu", "pool-drain", "bgwork-go"},
			tables: []*tableSpec{
				{title: "(a) empty tasks", job: "pool-empty", bench: regexp.MustCompile(`^Empty$`),
					col: "lib", baseline: "goroutines+WaitGroup", order: poolOrder, metrics: poolMetrics,
					targets: []target{cheapTask}},
				{title: "(b) 1 ms sleeps, limit 100", job: "pool-sleep", bench: regexp.MustCompile(`^Sleep$`),
					col: "lib", baseline: "goroutines+WaitGroup", order: poolOrder, metrics: poolMetrics,
					targets: []target{likePond}},
				{title: "(c) 1 µs CPU tasks, limit GOMAXPROCS", job: "pool-cpu", bench: regexp.MustCompile(`^CPU$`),
					col: "lib", baseline: "goroutines+WaitGroup", order: poolOrder, metrics: poolMetrics,
					targets: []target{cheapTask}},
				{title: "The CPU task alone (BenchmarkSpin)", job: "pool-cpu", bench: regexp.MustCompile(`^Spin$`),
					metrics: []metric{{unit: "ns/op", label: "time/op", format: fmtNs}}},
				{title: "Drain with a 100 ms deadline, 10 hung tasks among 10,000", job: "pool-drain",
					bench: regexp.MustCompile(`^DrainDeadline$`),
					col:   "lib", baseline: "goroutines+WaitGroup", order: poolOrder,
					metrics: []metric{
						{unit: "ms-submit+stop", label: "submit + stop", format: fmtMs, ratio: true},
						{unit: "hung-counted", label: "hung tasks counted", format: fmtCount, exact: true},
						{unit: "hung-named", label: "hung tasks named", format: fmtCount, exact: true},
					}},
				{title: "bgwork's own benchmark: empty tasks, batches of 10,000", job: "bgwork-go",
					bench: regexp.MustCompile(`^Go$`), col: "impl", baseline: "goroutines", order: []string{"bgwork", "goroutines"},
					metrics: []metric{nsop, bytesop, allocs},
					targets: []target{cheapGo},
					note: "`bgwork/bench_test.go`: `Pool.Go` + run + drain per empty task against goroutines and a " +
						"`sync.WaitGroup` (a channel semaphore for a limit), batches of 10,000."},
			},
			chart:   "pool-ns-per-task.svg",
			details: "bgwork.md",
		},
		{
			num: 7, title: "Whole stop of the starter app",
			intro: "The starter (`examples/starter`, built as a binary) with %REQUESTS% in flight, " +
				"%CLIENTS% WebSocket clients connected (gorilla, in a second process) and %TASKS% running when " +
				"SIGTERM arrives, against the same routes written the common way (`bench/stop/naiveapp`: " +
				"`http.Server.Shutdown`, then close frames one connection after another with a 200 ms poll, " +
				"then `sync.WaitGroup.Wait`). Every request must end with 200, every client with close 1001, " +
				"every job must log its end, and the process must exit 0, or the benchmark fails. Measured from " +
				"SIGTERM: until the process exited (stop), until the last request or job ended (work, from the " +
				"client's receipt and the jobs' log lines), and the difference: the overhead of the stop " +
				"sequence itself, which includes draining the WebSocket clients (`bench/stop`).",
			jobs: []string{"whole-stop"},
			tables: []*tableSpec{{
				title: "Stop minus the longest piece of work", job: "whole-stop", bench: regexp.MustCompile(`^WholeStop$`),
				col: "app", baseline: "naive", order: []string{"lameduck", "naive"},
				metrics: []metric{ms("overhead-ms"), ms("stop-ms"), {unit: "work-ms", label: "work-ms", format: fmtMs}},
				note: "No target: the overhead is what the sequence costs beyond " +
					"the work it waits for.",
			}, {
				title: "Where the stop's time goes", job: "whole-stop", bench: regexp.MustCompile(`^WholeStop$`),
				col: "app", baseline: "naive", order: []string{"lameduck", "naive"},
				metrics: []metric{
					{unit: "shutdown-ms", label: "servers' shutdown", format: fmtMs},
					{unit: "hub-drain-ms", label: "WebSocket drain", format: fmtMs},
					{unit: "wait-ms", label: "wait for jobs", format: fmtMs},
					{unit: "exit-ms", label: "end of stop to exit", format: fmtMs},
				},
				note: "As each program logs them: lameduck's phases from its stop report; the naive app " +
					"times its three steps the same way. The jobs (500 ms) end before the requests (1 s), so " +
					"the wait is short in both; the last column is the rest of the process's life after the " +
					"stop (Fx's remaining hooks, log flush, exit).",
			}},
		},
		{
			num: 8, title: "gRPC: a lameduck server vs a bare grpc-go server",
			intro: "The same services and message-size and stream settings on a lameduck server " +
				"(`grpcmodule.NewServer`: the interceptor that tracks every RPC with a cancellable context, the " +
				"connection wrapper, the health service) and on a bare `grpc.NewServer`, one after the other in " +
				"each round, with grpc-go's client over one loopback connection (`grpcmodule/bench_test.go`). " +
				"Unary: 1 KiB `Echo` calls from 16 goroutines. Stream: 1 KiB messages of one server-streaming call " +
				"as fast as flow control allows. Stop: one unary call ends 10 ms after the stop began; measured from " +
				"its handler's return to the return of lameduck's `Shutdown` or of plain `GracefulStop`.",
			jobs: []string{"grpc-throughput", "grpc-tracking", "grpc-stop"},
			tables: []*tableSpec{{
				title: "Unary throughput", job: "grpc-throughput", bench: regexp.MustCompile(`^GRPCUnary$`),
				col: "impl", baseline: "bare", order: []string{"lameduck", "bare"},
				metrics: []metric{{unit: "rpc/s", label: "RPCs/s", format: fmtRate, ratio: true}, nsop},
				targets: []target{{
					text: "≥ 0.98× bare: the stop's tracking costs at most 2% of an RPC", applies: lameduckRow,
					check: func(v lookup) (bool, string) {
						r, ok := v.ratio("lameduck", "bare", "rpc/s")
						return ok && r >= 0.98, formatRatio(r)
					},
				}},
			}, {
				title: "Streaming throughput", job: "grpc-throughput", bench: regexp.MustCompile(`^GRPCStream$`),
				col: "impl", baseline: "bare", order: []string{"lameduck", "bare"},
				metrics: []metric{{unit: "msg/s", label: "messages/s", format: fmtRate, ratio: true}, nsop},
				targets: []target{{
					text: "≥ 0.98× bare", applies: lameduckRow,
					check: func(v lookup) (bool, string) {
						r, ok := v.ratio("lameduck", "bare", "msg/s")
						return ok && r >= 0.98, formatRatio(r)
					},
				}},
			}, {
				title: "The tracking's own cost per RPC", job: "grpc-tracking", bench: regexp.MustCompile(`^Tracking$`),
				col: "impl", baseline: "bare", order: []string{"lameduck", "bare"},
				metrics: []metric{nsop, bytesop, allocs},
				note: "The first unary interceptor around a handler that returns at once, against calling the " +
					"handler directly (`grpcmodule/track_bench_test.go`): what every RPC pays for the stop's " +
					"tracking, next to the tens of microseconds of CPU a loopback RPC costs in the tables above.",
			}, {
				title: "Stop latency after the last RPC ends", job: "grpc-stop", bench: regexp.MustCompile(`^GRPCStopAfterLastRPC$`),
				col: "impl", baseline: "plain", order: []string{"lameduck", "plain"},
				metrics: []metric{{unit: "lag-µs", label: "lag after the RPC", format: fmtUs, ratio: true}},
				targets: []target{atMost("lameduck", "lag-µs", 2000, fmtUs, "a stop is as long as its work")},
				note: "grpc-go's `GracefulStop` waits on a condition variable, not a poll, so both follow the RPC; " +
					"what lameduck adds to the stop is its bounds (deadline, cancel, force), not speed.",
			}},
			details: "grpcmodule.md",
		},
	}
}
