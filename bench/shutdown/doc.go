// Package shutdown draws the curve behind comparison 3 of the benchmark
// suite: when a server's shutdown returns, against when its last request
// ends, for a sweep of end times. Plain http.Server.Shutdown polls for idle
// connections with a backoff that grows to 500ms, so its return time is a
// staircase; a lameduck server returns when the request and its connection
// end, a straight line. httpmodule's own BenchmarkShutdownAfterLastRequest
// measures the three points of the target.
//
//	go test -run '^$' -bench Staircase -benchtime 1x -count 3 ./shutdown/
package shutdown
