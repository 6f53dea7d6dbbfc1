package httpmodule

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkServe is one request over loopback with Go's client, against a
// lameduck server and a bare net/http server with the same handler and
// settings: the difference per op is what lameduck adds end to end (the
// client's own cost is the same on both sides). wrk and h2load measure the
// same against C clients: see internal/loadbench.
func BenchmarkServe(b *testing.B) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello, world\n") })
	for _, proto := range []string{"http1", "h2c"} {
		for _, impl := range impls {
			b.Run("proto="+proto+"/impl="+impl, func(b *testing.B) {
				srv := startBenchServer(b, impl, hello)
				tr := &http.Transport{MaxIdleConnsPerHost: 64}
				if proto == "h2c" {
					var protos http.Protocols
					protos.SetUnencryptedHTTP2(true)
					tr.Protocols = &protos
				}
				client := &http.Client{Transport: tr}
				url := "http://" + srv.addr + "/"
				b.ReportAllocs()
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						resp, err := client.Get(url)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				})
				b.StopTimer()
				tr.CloseIdleConnections()
				srv.stop(b.Context())
			})
		}
	}
}
