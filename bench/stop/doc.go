// Package stop measures the whole stop of a service (comparison 7 of the
// benchmark suite): the starter of examples/starter, built as a binary, and
// the same routes written the common way (./naiveapp), each with requests
// in flight, WebSocket clients connected and background jobs running when
// SIGTERM arrives. What counts is the stop's duration minus the longest
// piece of work: the overhead of the stop sequence itself.
//
//	go test -run '^$' -bench WholeStop -benchtime 1x -count 6 ./stop/
package stop
