package httpmodule

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// rawH2 is a minimal HTTP/2 client with prior knowledge, written frame by
// frame, for the cases that need precise control over what the client
// sends and when: Go's client and curl never send a request after reading
// nothing of a GOAWAY that is already on their socket.
type rawH2 struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// dialRawH2 connects and starts HTTP/2: preface and SETTINGS.
func dialRawH2(t *testing.T, addr string) *rawH2 {
	t.Helper()
	h := dialRaw(t, addr)
	h.start()
	return h
}

// dialRaw connects without sending anything.
func dialRaw(t *testing.T, addr string) *rawH2 {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawH2{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// start sends the client preface and an empty SETTINGS frame.
func (h *rawH2) start() {
	h.t.Helper()
	if _, err := io.WriteString(h.nc, clientPreface); err != nil {
		h.t.Fatal(err)
	}
	h.write(0x4, 0, 0, nil)
}

func (h *rawH2) write(typ, flags byte, stream uint32, payload []byte) {
	h.t.Helper()
	var hdr [frameHeaderLen]byte
	hdr[0], hdr[1], hdr[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	hdr[3], hdr[4] = typ, flags
	binary.BigEndian.PutUint32(hdr[5:], stream)
	if _, err := h.nc.Write(append(hdr[:], payload...)); err != nil {
		h.t.Fatalf("write frame type %d: %v", typ, err)
	}
}

// read returns the next frame; it acknowledges the server's SETTINGS.
func (h *rawH2) read() (frameHeader, []byte, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(h.br, hdr[:]); err != nil {
		return frameHeader{}, nil, err
	}
	f := frameHeader{
		length: uint32(hdr[0])<<16 | uint32(hdr[1])<<8 | uint32(hdr[2]),
		typ:    hdr[3], flags: hdr[4],
		stream: binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff,
	}
	payload := make([]byte, f.length)
	if _, err := io.ReadFull(h.br, payload); err != nil {
		return f, nil, err
	}
	if f.typ == 0x4 && f.flags&0x1 == 0 {
		h.write(0x4, 0x1, 0, nil) // SETTINGS ACK
	}
	return f, payload, nil
}

// request sends the headers of a request on stream; with end set, the
// request has no body.
func (h *rawH2) request(stream uint32, method, path string, end bool) {
	h.t.Helper()
	var block []byte
	for _, kv := range [][2]string{{":method", method}, {":scheme", "http"}, {":path", path}, {":authority", "test"}} {
		// HPACK literal header field without indexing, new name
		// (RFC 7541 section 6.2.2), lengths below 127.
		block = append(block, 0x00, byte(len(kv[0])))
		block = append(block, kv[0]...)
		block = append(block, byte(len(kv[1])))
		block = append(block, kv[1]...)
	}
	flags := byte(0x4) // END_HEADERS
	if end {
		flags |= flagEndStream
	}
	h.write(frameHeaders, flags, stream, block)
}

// readUntilEnd reads frames until stream ends, and returns an error if the
// connection ends first.
func (h *rawH2) readUntilEnd(stream uint32) {
	h.t.Helper()
	for {
		f, _, err := h.read()
		if err != nil {
			h.t.Fatalf("reading the response of stream %d: %v", stream, err)
		}
		if f.stream == stream && (f.typ == frameData || f.typ == frameHeaders) && f.flags&flagEndStream != 0 {
			return
		}
	}
}
