package httpmodule

import "encoding/binary"

// A minimal reading of HTTP/2 frames (RFC 9113 section 4.1) for the tests'
// own clients: the server side uses none of it.

// HTTP/2 frame types and flags the tests use (RFC 9113 section 6).
const (
	frameData        = 0x0
	frameHeaders     = 0x1
	frameRSTStream   = 0x3
	framePushPromise = 0x5
	frameGoAway      = 0x7
	flagEndStream    = 0x1
	frameHeaderLen   = 9
)

// clientPreface starts every HTTP/2 connection with prior knowledge.
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

type frameHeader struct {
	length uint32
	typ    uint8
	flags  uint8
	stream uint32
}

// frameScanner finds frame headers in a stream of frames that arrives in
// chunks of any size, for test clients that watch what the server sends
// without disturbing it (tapConn). For a GOAWAY it also captures the first
// 8 bytes of the payload (last stream ID and error code).
type frameScanner struct {
	hdr  [frameHeaderLen]byte
	nhdr int
	cur  frameHeader
	// skip is the number of payload bytes of cur still to pass.
	skip uint32
	// capture is the number of payload bytes of cur to keep in buf.
	capture int
	buf     [8]byte
	nbuf    int
}

// feed scans p and calls f once per frame, when its header (and, for a
// GOAWAY, the captured payload) is complete.
func (s *frameScanner) feed(p []byte, f func(frameHeader, []byte)) {
	for len(p) > 0 {
		if s.capture > 0 {
			n := min(s.capture-s.nbuf, len(p))
			copy(s.buf[s.nbuf:], p[:n])
			s.nbuf += n
			s.skip -= uint32(n)
			p = p[n:]
			if s.nbuf == s.capture {
				f(s.cur, s.buf[:s.nbuf])
				s.capture, s.nbuf = 0, 0
			}
			continue
		}
		if s.skip > 0 {
			n := uint32(len(p))
			if n > s.skip {
				n = s.skip
			}
			s.skip -= n
			p = p[n:]
			continue
		}
		n := copy(s.hdr[s.nhdr:], p)
		s.nhdr += n
		p = p[n:]
		if s.nhdr < frameHeaderLen {
			return
		}
		s.nhdr = 0
		s.cur = frameHeader{
			length: uint32(s.hdr[0])<<16 | uint32(s.hdr[1])<<8 | uint32(s.hdr[2]),
			typ:    s.hdr[3],
			flags:  s.hdr[4],
			stream: binary.BigEndian.Uint32(s.hdr[5:9]) & 0x7fffffff,
		}
		s.skip = s.cur.length
		if s.cur.typ == frameGoAway && s.cur.length > 0 {
			s.capture = int(min(s.cur.length, 8))
			continue
		}
		f(s.cur, nil)
	}
}
