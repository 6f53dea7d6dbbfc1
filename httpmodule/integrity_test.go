package httpmodule

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lameduck/lameduck/lifecycle"
)

// body returns n bytes derived from seed, so that client and server agree
// on every byte without sending a checksum.
func body(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Responses written after the shutdown's GOAWAY, on concurrent h2c
// streams, with sizes around net/http's 4 KiB write buffer and the 16 KiB
// frame size, arrive whole: every byte, checked by length and checksum. The
// stop that carried them is clean. (An early close of drained connections
// once cut the last frame of such responses while the report said clean.)
func TestH2CResponsesCompletingAfterGoAwayArriveWhole(t *testing.T) {
	sizes := []int{0, 1, 1000, 1333, 1666, 2000, 2333, 2666, 3000, 3333, 3666, 4000, 4090, 4095, 4096, 4097, 8192, 16383, 16384, 16385, 65536, 1 << 20}
	const streams = 3
	for _, size := range sizes {
		t.Run(fmt.Sprint("size=", size), func(t *testing.T) {
			release := make(chan struct{})
			var entered sync.WaitGroup
			mux := http.NewServeMux()
			mux.HandleFunc("GET /body/{size}", func(w http.ResponseWriter, r *http.Request) {
				n, _ := strconv.Atoi(r.PathValue("size"))
				seed, _ := strconv.ParseUint(r.URL.Query().Get("seed"), 10, 64)
				entered.Done()
				<-release // the client has read the shutdown's GOAWAY
				w.Write(body(seed, n))
			})
			mux.HandleFunc("GET /ping", func(http.ResponseWriter, *http.Request) {})
			s := startServer(t, testServerConfig(), mux)
			c, _ := coordinator(t, testStop(10*time.Second), s)
			var d tapDialer
			client := h2cClient(t, d.dial)
			type result struct {
				seed uint64
				got  []byte
				err  error
			}
			warm, err := client.Get(url(s, "/ping")) // one connection, for every stream
			if err != nil {
				t.Fatal(err)
			}
			warm.Body.Close()
			results := make(chan result, streams)
			entered.Add(streams)
			for i := range streams {
				seed := uint64(size*streams + i)
				go func() {
					resp, err := client.Get(url(s, fmt.Sprintf("/body/%d?seed=%d", size, seed)))
					if err != nil {
						results <- result{seed: seed, err: err}
						return
					}
					defer resp.Body.Close()
					got, err := io.ReadAll(resp.Body)
					results <- result{seed, got, err}
				}()
			}
			entered.Wait()
			done := stopAsync(c)
			for _, tc := range d.dialed() { // the responses are written after the GOAWAY
				select {
				case <-tc.goAway:
				case <-tc.ended: // a spare connection the client closed
				case <-time.After(30 * time.Second):
					t.Fatal("no GOAWAY")
				}
			}
			close(release)
			for range streams {
				r := <-results
				want := body(r.seed, size)
				switch {
				case r.err != nil:
					t.Errorf("stream seed %d: %d of %d bytes, then %v", r.seed, len(r.got), size, r.err)
				case !bytes.Equal(r.got, want):
					t.Errorf("stream seed %d: %d bytes sha256 %x, want %d bytes sha256 %x",
						r.seed, len(r.got), sha256.Sum256(r.got), size, sha256.Sum256(want))
				}
			}
			rep := <-done
			if !rep.Clean() {
				t.Errorf("stop not clean:\n%s", rep)
			}
			if sh, _ := rep.Phase(lifecycle.Shutdown); sh.Outcome != lifecycle.PhaseCompleted {
				t.Errorf("shutdown %s, want completed", sh.Outcome)
			}
		})
	}
}
