// Package body serves response bodies that a client can check byte for
// byte, and checks them. The body of (seed, size) is the first size bytes
// of the ChaCha8 stream keyed by seed (math/rand/v2, whose output is
// specified and stable across Go releases): a client that asked for it
// knows every byte it must receive, so a truncated or corrupted response is
// seen by its length and its SHA-256, not by its status alone.
//
//	GET /download?seed=7&size=4090             Content-Length, one Write
//	GET /download?seed=7&size=100000&stream=1  no Content-Length, chunks of varied sizes, a Flush after each
//
// Both carry the body's digest in a Content-Digest header (RFC 9530,
// "sha-256=:<base64>:"). The replicas of the reliability suite serve
// [Handler], internal/loadgen and the suite's integrity test check what
// they receive with [Check].
package body

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
)

// MaxSize is the largest body [Handler] serves.
const MaxSize = 64 << 20

// Reader returns the endless byte stream of seed; a body of size n is its
// first n bytes.
func Reader(seed uint64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:8], seed)
	return rand.NewChaCha8(key)
}

// Bytes returns the body of (seed, n).
func Bytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	_, _ = io.ReadFull(Reader(seed), b) // ChaCha8 never fails
	return b
}

// Digest returns the Content-Digest header value of b: "sha-256=:<base64 of
// its SHA-256>:".
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// Query returns the query string that asks for the body of (seed, size),
// streamed in chunks if stream is set.
func Query(seed uint64, size int, stream bool) string {
	q := "seed=" + strconv.FormatUint(seed, 10) + "&size=" + strconv.Itoa(size)
	if stream {
		q += "&stream=1"
	}
	return q
}

// boundaries are chunk sizes that end on, just before and just after the
// sizes where net/http's HTTP/1 and HTTP/2 writers buffer, split and frame:
// its 4 KiB write buffers and the 16 KiB default HTTP/2 frame size.
var boundaries = []int{1, 9, 100, 1000, 4087, 4095, 4096, 4097, 8192, 16375, 16383, 16384, 16385, 16393}

// Chunks returns the sizes of the writes of a streamed body of (seed,
// size): drawn from seed, half of them sizes near a buffer or frame
// boundary and half uniform in [1, 20000]; they add up to size.
func Chunks(seed uint64, size int) []int {
	r := rand.New(rand.NewPCG(seed, 0x6368756e6b73)) // "chunks"
	var out []int
	for left := size; left > 0; {
		n := 1 + r.IntN(20000)
		if r.IntN(2) == 0 {
			n = boundaries[r.IntN(len(boundaries))]
		}
		n = min(n, left)
		out = append(out, n)
		left -= n
	}
	return out
}

// Point is where in a response [Handler] calls its Pause function.
type Point int

const (
	// Start is before the first byte of the body (the header is not sent
	// yet).
	Start Point = iota
	// Middle is once the first half of the body has been written and
	// flushed (for a streamed body, at the first chunk boundary at or
	// after half of it); for an empty body, right after Start, with
	// nothing sent.
	Middle
)

// Request is a parsed body request.
type Request struct {
	Seed   uint64
	Size   int
	Stream bool
}

// Parse reads seed, size and stream from a query.
func Parse(q url.Values) (Request, error) {
	seed, err := strconv.ParseUint(q.Get("seed"), 10, 64)
	if err != nil {
		return Request{}, fmt.Errorf("seed: want an unsigned integer, got %q", q.Get("seed"))
	}
	size, err := strconv.Atoi(q.Get("size"))
	if err != nil || size < 0 || size > MaxSize {
		return Request{}, fmt.Errorf("size: want an integer from 0 to %d, got %q", MaxSize, q.Get("size"))
	}
	return Request{Seed: seed, Size: size, Stream: q.Get("stream") == "1"}, nil
}

// Handler serves the body that a request's query asks for (see [Query]).
type Handler struct {
	// Pause, if set, is called at Start and at Middle of every response;
	// the response goes on when it returns. Tests block there to place a
	// response before, across or after an event.
	Pause func(r *http.Request, at Point)
}

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := Parse(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pause := h.Pause
	if pause == nil {
		pause = func(*http.Request, Point) {}
	}
	b := Bytes(req.Seed, req.Size)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Digest", Digest(b))
	if !req.Stream {
		w.Header().Set("Content-Length", strconv.Itoa(req.Size))
	}
	pause(r, Start)
	rc := http.NewResponseController(w)
	if req.Size == 0 {
		// No middle: flushing the header now would complete the
		// response, and the client could reuse the connection while the
		// handler still holds it.
		pause(r, Middle)
		return
	}
	if !req.Stream {
		half := req.Size / 2
		if _, err := w.Write(b[:half]); err != nil {
			return
		}
		_ = rc.Flush()
		pause(r, Middle)
		_, _ = w.Write(b[half:])
		return
	}
	off, paused := 0, false
	for _, n := range Chunks(req.Seed, req.Size) {
		if !paused && off >= req.Size/2 {
			pause(r, Middle)
			paused = true
		}
		if _, err := w.Write(b[off : off+n]); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		off += n
	}
}

// Outcome is what [Check] found.
type Outcome int

const (
	// OK: every byte arrived, and nothing more.
	OK Outcome = iota
	// Truncated: the bytes that arrived are the body's start, but not all
	// of it.
	Truncated
	// Corrupt: some byte differs, or more arrived than the body has.
	Corrupt
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Truncated:
		return "truncated"
	default:
		return "corrupt"
	}
}

// Result is a checked body.
type Result struct {
	Outcome Outcome
	Want    int // the body's size
	Got     int // bytes received
	// FirstBad is the offset of the first byte that differs, or of the
	// first byte missing; -1 when the body is OK.
	FirstBad int
}

func (r Result) String() string {
	switch r.Outcome {
	case OK:
		return fmt.Sprintf("%d bytes ok", r.Got)
	case Truncated:
		return fmt.Sprintf("truncated: %d of %d bytes", r.Got, r.Want)
	default:
		return fmt.Sprintf("corrupt: %d bytes of %d, first wrong byte at %d", r.Got, r.Want, r.FirstBad)
	}
}

// Check compares got with the body of (seed, size): by length and SHA-256
// and, when they differ, byte by byte to say where.
func Check(seed uint64, size int, got []byte) Result {
	return CheckAgainst(Bytes(seed, size), got)
}

// CheckAgainst is [Check] with the expected body at hand.
func CheckAgainst(want, got []byte) Result {
	r := Result{Want: len(want), Got: len(got), FirstBad: -1}
	if len(got) == len(want) && sha256.Sum256(got) == sha256.Sum256(want) {
		return r
	}
	n := min(len(got), len(want))
	for i := range n {
		if got[i] != want[i] {
			r.Outcome, r.FirstBad = Corrupt, i
			return r
		}
	}
	if len(got) > len(want) {
		r.Outcome, r.FirstBad = Corrupt, len(want)
		return r
	}
	r.Outcome, r.FirstBad = Truncated, len(got)
	return r
}
