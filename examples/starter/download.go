package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"

	"github.com/lameduck/lameduck/httpmodule"
)

// Limits of GET /download.
const (
	maxDownload   = 64 << 20 // bytes
	downloadChunk = 16 << 10 // bytes per write, each flushed
)

// downloadRoute answers GET /download?size=N&seed=S with N bytes that depend
// only on S (the ChaCha8 stream of math/rand/v2 keyed by S), the way test
// services such as httpbin's /bytes do, so that a client can check every
// byte: the response has a Content-Length and a Content-Digest header
// (RFC 9530: "sha-256=:<base64>:"), and is sent in 16 KiB writes, each
// flushed. A download still being sent when the stop begins is finished
// before the server shuts down.
func downloadRoute() httpmodule.Route {
	return httpmodule.Route{Pattern: "GET /download", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size, err := strconv.Atoi(r.URL.Query().Get("size"))
		if err != nil || size < 0 || size > maxDownload {
			http.Error(w, fmt.Sprintf("size: want a number of bytes from 0 to %d", maxDownload), http.StatusBadRequest)
			return
		}
		seed, err := strconv.ParseUint(r.URL.Query().Get("seed"), 10, 64)
		if err != nil {
			http.Error(w, "seed: want an unsigned integer", http.StatusBadRequest)
			return
		}
		// Two passes over the same stream: the digest goes in the header,
		// before the body.
		sum := sha256.New()
		_, _ = io.CopyN(sum, seededBytes(seed), int64(size))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Header().Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum.Sum(nil))+":")
		rc := http.NewResponseController(w)
		src := seededBytes(seed)
		buf := make([]byte, downloadChunk)
		for left := size; left > 0; {
			n := min(left, len(buf))
			_, _ = io.ReadFull(src, buf[:n]) // ChaCha8 never fails
			if _, err := w.Write(buf[:n]); err != nil {
				return // the client went away
			}
			if err := rc.Flush(); err != nil {
				return
			}
			left -= n
		}
	})}
}

// seededBytes returns the endless byte stream of seed: the ChaCha8 stream
// keyed by seed in little-endian order in the key's first 8 bytes.
func seededBytes(seed uint64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:8], seed)
	return rand.NewChaCha8(key)
}
