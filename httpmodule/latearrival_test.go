package httpmodule

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lameduck/lameduck/lifecycle"
)

// lateClient sends each request on a new connection, as a client that
// connects to pods directly does after its pod list changed.
func lateClient(t *testing.T) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// In the late-arrival mode, requests that reach a stopping replica while a
// request is still in flight get 503 with Retry-After and Connection:
// close; a client that retries them on the other replica loses none. The
// request in flight completes, the listener closes once it has, and the
// stop is clean. Without the mode (the baseline, same run) those requests
// get a refused connection.
func TestLateArrivalsGet503UntilInFlightDone(t *testing.T) {
	for _, mode := range []bool{true, false} {
		t.Run(fmt.Sprint("retryAfter=", mode), func(t *testing.T) {
			entered, release := make(chan (<-chan struct{}), 1), make(chan struct{})
			mux := http.NewServeMux()
			mux.HandleFunc("GET /held", func(w http.ResponseWriter, r *http.Request) {
				entered <- Draining(r.Context())
				<-release
				io.WriteString(w, "held done")
			})
			mux.HandleFunc("GET /work/{i}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.PathValue("i")) })
			cfg := testServerConfig()
			if mode {
				cfg.RetryAfter = 2 * time.Second
			}
			stopping := startServer(t, cfg, mux)
			other := startServer(t, testServerConfig(), mux) // the replica that stays
			c, _ := coordinator(t, testStop(20*time.Second), stopping)

			held := make(chan error, 1)
			go func() {
				resp, err := lateClient(t).Get(url(stopping, "/held"))
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(b) != "held done" {
						err = fmt.Errorf("held request: %q", b)
					}
				}
				held <- err
			}()
			drain := recv(t, entered, "the held request")
			done := stopAsync(c)
			recv(t, drain, "the drain to begin")
			if !mode {
				listenerClosed(t, stopping)
			}

			client := lateClient(t)
			const late = 20
			var answered503, refused, retriedOK int
			for i := range late {
				resp, err := client.Get(url(stopping, fmt.Sprint("/work/", i)))
				switch {
				case err != nil && isRefused(err):
					refused++
				case err != nil:
					t.Fatalf("late request %d: %v", i, err)
				default:
					resp.Body.Close()
					if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" || !resp.Close {
						t.Errorf("late request %d: status %d, Retry-After %q, close %v; want 503, 2, close",
							i, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close)
					}
					answered503++
				}
				resp, err = client.Get(url(other, fmt.Sprint("/work/", i))) // the retry
				if err != nil {
					t.Fatalf("retry %d on the other replica: %v", i, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && string(b) == fmt.Sprint(i) {
					retriedOK++
				}
			}
			close(release)
			if err := recv(t, held, "the held response"); err != nil {
				t.Error(err)
			}
			rep := recv(t, done, "the stop")
			if !rep.Clean() {
				t.Errorf("stop not clean:\n%s", rep)
			}
			if retriedOK != late {
				t.Errorf("%d of %d late requests answered after their retry", retriedOK, late)
			}
			if mode && (answered503 != late || stopping.Stats().LateAnswered != late) {
				t.Errorf("%d answered 503 (stats: %d), want all %d", answered503, stopping.Stats().LateAnswered, late)
			}
			if !mode && refused != late {
				t.Errorf("without the mode %d of %d late connections were refused, want all", refused, late)
			}
		})
	}
}

// The late-arrival mode never takes the stop past its budget: with a
// request that never ends, it answers 503 for half of the shutdown phase,
// then closes the listener, and the phase is forced at its deadline as
// without the mode. In fake time, so the instants are exact.
func TestLateArrivalModeKeepsWithinPhaseBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered := make(chan struct{}, 1)
		mux := http.NewServeMux()
		mux.HandleFunc("GET /stuck", func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-r.Context().Done()
		})
		mux.HandleFunc("GET /work", func(http.ResponseWriter, *http.Request) {})
		s, pn := startPipeServer(t, mux)
		s.cfg.RetryAfter = time.Second
		stop := testStop(10 * time.Second)
		c, events := coordinator(t, stop, s)
		go func() {
			resp, err := pn.client(t, false).Get("http://pipe/stuck")
			if err == nil {
				resp.Body.Close()
			}
		}()
		<-entered
		done := stopAsync(c)
		start := waitFor(t, events, lifecycle.PhaseStarted, lifecycle.Shutdown).Time

		time.Sleep(4*time.Second + 900*time.Millisecond)
		resp, err := pn.client(t, false).Get("http://pipe/work")
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("at %v: %v, %v; want 503", time.Since(start), resp, err)
		}
		resp.Body.Close()
		time.Sleep(200 * time.Millisecond)
		if resp, err := pn.client(t, false).Get("http://pipe/work"); err == nil {
			resp.Body.Close()
			t.Errorf("at %v, past half of the phase: status %d, want the listener closed", time.Since(start), resp.StatusCode)
		}
		rep := <-done
		sh, _ := rep.Phase(lifecycle.Shutdown)
		if sh.Outcome != lifecycle.PhaseForced || sh.Duration > stop.Shutdown+stop.ForceGrace {
			t.Errorf("shutdown %s in %v, want forced at its %v deadline", sh.Outcome, sh.Duration, stop.Shutdown)
		}
		if rep.Duration > stop.Total {
			t.Errorf("stop took %v, past its %v budget", rep.Duration, stop.Total)
		}
	})
}

// retryAfter is off at zero, or at least a second (Retry-After counts
// whole seconds).
func TestRetryAfterValidate(t *testing.T) {
	for _, tc := range []struct {
		d  time.Duration
		ok bool
	}{{0, true}, {time.Second, true}, {500 * time.Millisecond, false}, {2 * time.Hour, false}} {
		cfg := DefaultServerSettings(":8080")
		cfg.RetryAfter = tc.d
		if err := (Settings{"public": cfg}).Validate(); (err == nil) != tc.ok {
			t.Errorf("retryAfter %v: %v, want ok %v", tc.d, err, tc.ok)
		}
	}
}
