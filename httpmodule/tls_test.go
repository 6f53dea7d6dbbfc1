package httpmodule

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lameduck/lameduck/lifecycle"
	"github.com/lameduck/lameduck/setting"
)

// A TLS server negotiates HTTP/2 and HTTP/1.1 by ALPN, and says in its
// stats which certificate it serves.
func TestTLSServesH2AndHTTP1ByALPN(t *testing.T) {
	pki := newTestPKI(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /proto", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s tls=%v", r.Proto, r.TLS != nil)
	})
	s := startServer(t, tlsServerConfig(t, pki, 0x1234), mux)
	for _, tc := range []struct {
		h1   bool
		want string
	}{{false, "HTTP/2.0 tls=true"}, {true, "HTTP/1.1 tls=true"}} {
		resp, err := tlsClient(t, pki, tc.h1, nil).Get(tlsURL(s, "/proto"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tc.want {
			t.Errorf("got %q, want %q", b, tc.want)
		}
	}
	if got := s.Stats().TLSSerial; got != "1234" {
		t.Errorf("Stats().TLSSerial = %q, want 1234", got)
	}
	// A plaintext request on the TLS port is not served.
	if resp, err := h1Client(t).Get(url(s, "/proto")); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("a plaintext request on the TLS port was served")
		}
	}
}

// The scenario of golang/go#39776 over TLS: 25 concurrent requests on one
// HTTP/2 connection, all in flight when the stop begins. Every one gets its
// 200, and the shutdown phase ends once the last is done, not at its
// deadline.
func TestTLSH2ConcurrentStreamsCompleteAtStop(t *testing.T) {
	const streams = 25
	pki := newTestPKI(t)
	entered, release := make(chan struct{}, streams), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /held/{i}", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, r.PathValue("i"))
	})
	s := startServer(t, tlsServerConfig(t, pki, 2), mux)
	c, events := coordinator(t, testStop(20*time.Second), s)
	var d countingDialer
	client := tlsClient(t, pki, false, &d)
	warm, err := client.Get(tlsURL(s, "/ping")) // the one connection
	if err != nil {
		t.Fatal(err)
	}
	warm.Body.Close()

	type result struct {
		i    int
		code int
		body string
		at   time.Time
		err  error
	}
	results := make(chan result, streams)
	for i := range streams {
		go func() {
			resp, err := client.Get(tlsURL(s, fmt.Sprint("/held/", i)))
			if err != nil {
				results <- result{i: i, err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if resp.ProtoMajor != 2 {
				err = fmt.Errorf("protocol %s, want HTTP/2", resp.Proto)
			}
			results <- result{i, resp.StatusCode, string(b), time.Now(), err}
		}()
	}
	for range streams {
		recv(t, entered, "the requests to reach their handler")
	}
	done := stopAsync(c)
	waitFor(t, events, lifecycle.PhaseStarted, lifecycle.Shutdown)
	listenerClosed(t, s)
	close(release)
	var last time.Time
	for range streams {
		r := recv(t, results, "a response")
		if r.err != nil || r.code != http.StatusOK || r.body != strconv.Itoa(r.i) {
			t.Errorf("request %d: status %d body %q err %v", r.i, r.code, r.body, r.err)
		}
		if r.at.After(last) {
			last = r.at
		}
	}
	rep := recv(t, done, "the stop")
	stopEnd := time.Now()
	if !rep.Clean() {
		t.Errorf("stop not clean:\n%s", rep)
	}
	sh, _ := rep.Phase(lifecycle.Shutdown)
	if sh.Outcome != lifecycle.PhaseCompleted || sh.Duration > 10*time.Second {
		t.Errorf("shutdown %s in %v, want completed well before its 20s deadline", sh.Outcome, sh.Duration)
	}
	if n := d.n.Load(); n != 1 {
		t.Errorf("%d connections, want all 25 streams on one", n)
	}
	t.Logf("the stop ended %v after the last response", stopEnd.Sub(last))
}

// HTTP/2 over TLS gets its GOAWAY at shutdown, exactly as h2c does: a
// stream in flight is named in it, completes after it, and the connection
// then ends cleanly.
func TestTLSH2GoAwayAtShutdownThenStreamCompletes(t *testing.T) {
	pki := newTestPKI(t)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /held", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "done")
	})
	cfg := tlsServerConfig(t, pki, 3)
	cfg.H2IdleGrace = 5 * time.Second
	s := startServer(t, cfg, mux)
	h := dialRawH2TLS(t, s.Addr().String(), pki)
	h.request(1, "GET", "/held", true)
	recv(t, entered, "the request to reach its handler")
	stopped := make(chan error, 1)
	go func() { stopped <- s.Shutdown(context.Background()) }()
	for {
		f, payload, err := h.read()
		if err != nil {
			t.Fatalf("no GOAWAY before %v", err)
		}
		if f.stream == 1 && f.typ == frameData {
			t.Fatal("the response came before the GOAWAY")
		}
		if f.typ == frameGoAway {
			if last := binary.BigEndian.Uint32(payload) & 0x7fffffff; last != 1 {
				t.Errorf("GOAWAY last stream %d, want 1", last)
			}
			break
		}
	}
	close(release)
	h.readUntilEnd(1)
	var err error
	for err == nil {
		_, _, err = h.read()
	}
	if err != io.EOF {
		t.Errorf("connection ended with %v, want EOF", err)
	}
	h.nc.Close()
	if err := recv(t, stopped, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// The response-integrity cases over TLS: responses of sizes around the
// write buffer, the frame size and the TLS record size, written after the
// drain began on concurrent HTTP/2 streams and on HTTP/1.1 connections,
// arrive whole (length and checksum), and the stop is clean.
func TestTLSResponsesCompletingInDrainArriveWhole(t *testing.T) {
	sizes := []int{0, 1, 4095, 4096, 4097, 16383, 16384, 16385, 65536, 1 << 20}
	const streams = 3
	pki := newTestPKI(t)
	for _, h1 := range []bool{false, true} {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("h1=%v/size=%d", h1, size), func(t *testing.T) {
				var entered sync.WaitGroup
				mux := http.NewServeMux()
				mux.HandleFunc("GET /body/{size}", func(w http.ResponseWriter, r *http.Request) {
					n, _ := strconv.Atoi(r.PathValue("size"))
					seed, _ := strconv.ParseUint(r.URL.Query().Get("seed"), 10, 64)
					entered.Done()
					<-Draining(r.Context()) // written during the drain
					w.Write(body(seed, n))
				})
				mux.HandleFunc("GET /ping", func(http.ResponseWriter, *http.Request) {})
				s := startServer(t, tlsServerConfig(t, pki, 4), mux)
				c, _ := coordinator(t, testStop(10*time.Second), s)
				client := tlsClient(t, pki, h1, nil)
				type result struct {
					seed uint64
					got  []byte
					err  error
				}
				results := make(chan result, streams)
				entered.Add(streams)
				for i := range streams {
					seed := uint64(size*streams + i)
					go func() {
						resp, err := client.Get(tlsURL(s, fmt.Sprintf("/body/%d?seed=%d", size, seed)))
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
				for range streams {
					r := recv(t, results, "a response")
					want := body(r.seed, size)
					switch {
					case r.err != nil:
						t.Errorf("seed %d: %d of %d bytes, then %v", r.seed, len(r.got), size, r.err)
					case !bytes.Equal(r.got, want):
						t.Errorf("seed %d: %d bytes sha256 %x, want %d bytes sha256 %x",
							r.seed, len(r.got), sha256.Sum256(r.got), size, sha256.Sum256(want))
					}
				}
				rep := recv(t, done, "the stop")
				if !rep.Clean() {
					t.Errorf("stop not clean:\n%s", rep)
				}
				if sh, _ := rep.Phase(lifecycle.Shutdown); sh.Outcome != lifecycle.PhaseCompleted {
					t.Errorf("shutdown %s, want completed", sh.Outcome)
				}
			})
		}
	}
}

// Mutual TLS: with "require" a client without a certificate of the client
// CA gets no connection; with "verify-if-given" it is served, and one with
// a certificate of another CA is refused.
func TestTLSClientAuth(t *testing.T) {
	pki, clientCA, otherCA := newTestPKI(t), newTestPKI(t), newTestPKI(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /who", func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			io.WriteString(w, "anonymous")
			return
		}
		io.WriteString(w, r.TLS.PeerCertificates[0].SerialNumber.String())
	})
	get := func(s *Server, cert *tls.Certificate) (string, error) {
		cfg := &tls.Config{RootCAs: pki.pool}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(tlsURL(s, "/who"))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	good, bad := clientCA.keyPair(t, 77), otherCA.keyPair(t, 78)
	for _, mode := range []string{"require", "verify-if-given"} {
		t.Run(mode, func(t *testing.T) {
			cfg := tlsServerConfig(t, pki, 5)
			cfg.TLS.ClientCAFile = writeFile(t, t.TempDir(), "ca.crt", clientCA.pem)
			cfg.TLS.ClientAuth = mode
			s := startServer(t, cfg, mux)
			if got, err := get(s, &good); err != nil || got != "77" {
				t.Errorf("with a good client certificate: %q, %v; want 77", got, err)
			}
			if got, err := get(s, &bad); err == nil {
				t.Errorf("with a certificate of another CA: served %q, want no connection", got)
			}
			got, err := get(s, nil)
			switch {
			case mode == "require" && err == nil:
				t.Errorf("without a client certificate: served %q, want no connection", got)
			case mode == "verify-if-given" && (err != nil || got != "anonymous"):
				t.Errorf("without a client certificate: %q, %v; want anonymous", got, err)
			}
		})
	}
}

// TLS 1.3 only: a client that offers at most TLS 1.2 gets no connection.
func TestTLSMinVersion(t *testing.T) {
	pki := newTestPKI(t)
	cfg := tlsServerConfig(t, pki, 6)
	cfg.TLS.MinVersion = "1.3"
	s := startServer(t, cfg, http.NewServeMux())
	tc, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pki.pool, MaxVersion: tls.VersionTLS12})
	if err == nil {
		tc.Close()
		t.Fatal("a TLS 1.2 client connected to a server with minVersion 1.3")
	}
	tc, err = tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pki.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if v := tc.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("version %x, want TLS 1.3", v)
	}
}

// Start fails, naming the setting, when the files do not make a pair.
func TestTLSStartFailsOnBadFiles(t *testing.T) {
	pki := newTestPKI(t)
	cfg := tlsServerConfig(t, pki, 7)
	_, otherKey := pki.issue(t, 8, false)
	cfg.TLS.KeyFile = writeFile(t, t.TempDir(), "other.key", otherKey)
	s := NewServer("public", cfg, nil)
	s.settingsKey = "servers.public"
	err := s.Start(context.Background())
	if err == nil {
		s.Close()
		t.Fatal("Start succeeded with a key that is not the certificate's")
	}
	for _, want := range []string{"tls.certFile", "servers.public.tls"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// Every TLS problem of a server's settings is reported at once, and h2c
// on a TLS port is refused with what to do instead.
func TestTLSSettingsValidate(t *testing.T) {
	bad := DefaultServerSettings(":8443")
	bad.TLS.CertFile = "/etc/tls/tls.crt" // no key; protocols still the plaintext default with h2c
	bad.TLS.MinVersion = "1.1"
	bad.TLS.ClientAuth = "require"
	plain := DefaultServerSettings(":8080")
	plain.Protocols = []Protocol{H2}
	err := Settings{"public": bad, "plain": plain}.Validate()
	problems, ok := setting.Problems(err)
	if !ok {
		t.Fatalf("Validate: %v, want problems", err)
	}
	want := map[string]string{
		"plain.protocols":       `"h2" only with tls.certFile`,
		"public.protocols":      `"h2" for HTTP/2 over TLS`,
		"public.tls.minVersion": `"1.2" or "1.3"`,
		"public.tls.keyFile":    "private key",
		"public.tls.clientAuth": "tls.clientCAFile",
	}
	got := map[string]string{}
	for _, p := range problems {
		got[p.Key] = p.Want
	}
	for key, w := range want {
		if !strings.Contains(got[key], w) {
			t.Errorf("%s: want a problem saying %q, got %q (all: %v)", key, w, got[key], err)
		}
	}
	if len(problems) != len(want) {
		t.Errorf("%d problems, want %d: %v", len(problems), len(want), err)
	}
	good := DefaultServerSettings(":8443")
	good.Protocols = []Protocol{HTTP1, H2}
	good.TLS.CertFile, good.TLS.KeyFile = "/etc/tls/tls.crt", "/etc/tls/tls.key"
	if err := (Settings{"public": good}).Validate(); err != nil {
		t.Errorf("valid TLS settings: %v", err)
	}
}

// curl over TLS, with --http2 (ALPN h2, its transfers multiplexed on one
// connection) and --http1.1: 20 transfers in flight when the stop begins
// all complete with 200 in the protocol asked for, and the stop is clean.
func TestCurlTLSTransfersCompleteAtStop(t *testing.T) {
	curl := curlPath(t)
	pki := newTestPKI(t)
	caFile := writeFile(t, t.TempDir(), "ca.crt", pki.pem)
	const transfers = 20
	for _, tc := range []struct{ flag, version string }{{"--http2", "2"}, {"--http1.1", "1.1"}} {
		t.Run(tc.flag, func(t *testing.T) {
			entered, release := make(chan struct{}, transfers), make(chan struct{})
			mux := http.NewServeMux()
			mux.HandleFunc("GET /held/{i}", func(w http.ResponseWriter, r *http.Request) {
				entered <- struct{}{}
				<-release
				w.Write(body(7, 100_000))
			})
			cfg := tlsServerConfig(t, pki, 9)
			cfg.H2IdleGrace = 5 * time.Second // curl's own close must end the connection
			s := startServer(t, cfg, mux)
			c, _ := coordinator(t, testStop(20*time.Second), s)
			args := []string{tc.flag, "--cacert", caFile, "--parallel", "--parallel-max", fmt.Sprint(transfers),
				"--silent", "--show-error", "--max-time", "60",
				"--write-out", "%{http_code} %{http_version} %{size_download}\\n"}
			for i := range transfers {
				args = append(args, tlsURL(s, fmt.Sprintf("/held/%d", i)), "--output", "/dev/null")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, curl, args...)
			var out, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			for range transfers {
				recv(t, entered, "a request from curl")
			}
			done := stopAsync(c)
			listenerClosed(t, s)
			close(release)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("curl: %v\n%s", err, stderr.String())
			}
			ok := 0
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if line == "200 "+tc.version+" 100000" {
					ok++
				}
			}
			if ok != transfers {
				t.Errorf("curl: %d of %d transfers got 200 over HTTP/%s with all 100000 bytes; output:\n%s",
					ok, transfers, tc.version, out.String())
			}
			if rep := recv(t, done, "the stop"); !rep.Clean() {
				t.Errorf("stop not clean:\n%s", rep)
			}
			if tc.version == "2" {
				if n := s.last.accepted.Load(); n != 1 {
					t.Logf("curl opened %d connections for its HTTP/2 transfers", n)
				}
			}
		})
	}
}
