package httpmodule

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// curlPath returns curl's path, or skips the test when curl is missing
// (unless LAMEDUCK_E2E=require, as in CI, which makes it a failure).
func curlPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("LAMEDUCK_E2E") == "require" {
			t.Fatalf("curl is required (LAMEDUCK_E2E=require) but not found: %v", err)
		}
		t.Skip("curl not installed: skipping the curl --http2-prior-knowledge test (install curl, or set LAMEDUCK_E2E=require to make this a failure)")
	}
	return p
}

// curlMultiplexesPriorKnowledge reports whether curl can reuse an h2c
// prior-knowledge connection for parallel transfers: curl before 8.0 fails
// them with "Error in the HTTP2 framing layer" (curl/curl#10634, fixed by
// curl/curl#10643).
func curlMultiplexesPriorKnowledge(t *testing.T, curl string) bool {
	out, err := exec.Command(curl, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	var major int
	if _, err := fmt.Sscanf(string(out), "curl %d.", &major); err != nil {
		t.Fatalf("curl --version: %q: %v", out, err)
	}
	return major >= 8
}

// 50 concurrent streams from curl with prior knowledge, in flight when the
// stop begins: all complete, and curl closes its connection after the
// GOAWAY. A curl that can multiplex them sends all on one connection; an
// older one (Debian 12's 7.88) gets one connection per transfer.
func TestCurlH2CStreamsCompleteAtStop(t *testing.T) {
	curl := curlPath(t)
	multiplex := curlMultiplexesPriorKnowledge(t, curl)
	if !multiplex {
		t.Log("curl < 8.0 cannot multiplex prior-knowledge h2c (curl/curl#10634): one connection per transfer")
	}
	const streams = 50
	entered, release := make(chan struct{}, streams), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream/{i}", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "done")
	})
	cfg := testServerConfig()
	cfg.H2IdleGrace = 5 * time.Second // curl's own close must end the connection
	s := NewServer("public", cfg, mux)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c, _ := coordinator(t, testStop(10*time.Second), s)

	args := []string{"--http2-prior-knowledge", "--parallel", "--parallel-max", fmt.Sprint(streams),
		"--silent", "--show-error", "--max-time", "60", "--write-out", "%{http_code} %{http_version}\\n"}
	if !multiplex {
		args = append(args, "--parallel-immediate")
	}
	for i := range streams {
		args = append(args, url(s, fmt.Sprintf("/stream/%d", i)), "--output", os.DevNull)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, curl, args...)
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wantConns := 1
	if !multiplex {
		wantConns = streams
	}
	for range streams {
		recv(t, entered, "a request from curl")
	}
	done := stopAsync(c)
	listenerClosed(t, s) // the shutdown has begun: its GOAWAYs are on their way
	close(release)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("curl: %v\n%s", err, stderr.String())
	}
	lines := strings.Fields(strings.ReplaceAll(out.String(), "\n", " "))
	ok := 0
	for i := 0; i+1 < len(lines); i += 2 {
		if lines[i] == "200" && lines[i+1] == "2" {
			ok++
		}
	}
	if ok != streams {
		t.Errorf("curl: %d of %d transfers answered 200 over HTTP/2; output:\n%s", ok, streams, out.String())
	}
	if n := s.last.accepted.Load(); n != int64(wantConns) {
		t.Errorf("curl opened %d connections, want %d", n, wantConns)
	}
	if rep := <-done; !rep.Clean() {
		t.Errorf("stop not clean:\n%s", rep)
	}
}
