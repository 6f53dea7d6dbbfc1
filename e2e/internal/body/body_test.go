package body

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The body of a seed is a stream: a shorter body is the start of a longer
// one, and other seeds give other bytes.
func TestBytesIsAPrefixStream(t *testing.T) {
	long, short := Bytes(7, 100000), Bytes(7, 4090)
	if !bytes.Equal(long[:4090], short) {
		t.Error("Bytes(7, 4090) is not the start of Bytes(7, 100000)")
	}
	if bytes.Equal(Bytes(8, 4090), short) {
		t.Error("seeds 7 and 8 give the same bytes")
	}
	if len(Bytes(1, 0)) != 0 {
		t.Error("a body of size 0 is not empty")
	}
}

func TestChunksAddUp(t *testing.T) {
	for _, size := range []int{0, 1, 4096, 100000, 1 << 20} {
		sum, n := 0, 0
		for _, c := range Chunks(3, size) {
			if c < 1 {
				t.Fatalf("size %d: chunk of %d bytes", size, c)
			}
			sum += c
			n++
		}
		if sum != size {
			t.Errorf("size %d: chunks add up to %d", size, sum)
		}
		if size >= 100000 && n < 10 {
			t.Errorf("size %d: only %d chunks", size, n)
		}
	}
}

func TestCheck(t *testing.T) {
	want := Bytes(5, 5000)
	bad := bytes.Clone(want)
	bad[4000] ^= 1
	for _, tc := range []struct {
		name     string
		got      []byte
		outcome  Outcome
		firstBad int
	}{
		{"whole", want, OK, -1},
		{"short", want[:4096], Truncated, 4096},
		{"empty", nil, Truncated, 0},
		{"flipped", bad, Corrupt, 4000},
		{"long", append(bytes.Clone(want), 0), Corrupt, 5000},
	} {
		r := CheckAgainst(want, tc.got)
		if r.Outcome != tc.outcome || r.FirstBad != tc.firstBad {
			t.Errorf("%s: %v (first bad %d), want %v at %d", tc.name, r, r.FirstBad, tc.outcome, tc.firstBad)
		}
	}
	if r := Check(5, 5000, want); r.Outcome != OK {
		t.Errorf("Check of the right body: %v", r)
	}
}

// The handler serves the body a query asks for, whole or streamed, with
// its digest, and pauses at the start and in the middle.
func TestHandler(t *testing.T) {
	var mu sync.Mutex
	var points []Point
	srv := httptest.NewServer(Handler{Pause: func(r *http.Request, at Point) {
		mu.Lock()
		defer mu.Unlock()
		points = append(points, at)
	}})
	defer srv.Close()
	for _, stream := range []bool{false, true} {
		mu.Lock()
		points = nil
		mu.Unlock()
		resp, err := http.Get(srv.URL + "/?" + Query(9, 70000, stream))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r := Check(9, 70000, got); r.Outcome != OK {
			t.Errorf("stream %v: %v", stream, r)
		}
		if d := resp.Header.Get("Content-Digest"); d != Digest(got) {
			t.Errorf("stream %v: Content-Digest %q, want %q", stream, d, Digest(got))
		}
		if stream != (resp.ContentLength == -1) {
			t.Errorf("stream %v: Content-Length %d", stream, resp.ContentLength)
		}
		mu.Lock()
		seen := points
		mu.Unlock()
		if len(seen) != 2 || seen[0] != Start || seen[1] != Middle {
			t.Errorf("stream %v: paused at %v, want [Start Middle]", stream, seen)
		}
	}
	resp, err := http.Get(srv.URL + "/?seed=x&size=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad seed: %s, want 400", resp.Status)
	}
}
