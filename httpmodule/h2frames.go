package httpmodule

import "encoding/binary"

// HTTP/2 frame accounting for the early close of idle h2c connections.
//
// After a graceful GOAWAY the net/http HTTP/2 server keeps an idle
// connection open for a fixed second before it closes it, so that the
// peer reads the GOAWAY before the close (golang.org/issue/18701). We do
// the same faster: once the GOAWAY has reached the socket and no stream is
// open, we half-close our side (FIN after the GOAWAY) and keep reading, so
// the peer gets every byte we sent and an unread request of theirs never
// turns our close into a reset. To know when that is safe we follow the
// frames in both directions: the 9-byte frame headers (RFC 9113 section
// 4.1) tell which streams the client opened and which the server finished.

// HTTP/2 frame types and flags used here (RFC 9113 section 6).
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
// chunks of any size. For a GOAWAY it also captures the first 8 bytes of
// the payload (last stream ID and error code).
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

// Stream ends seen so far, per stream.
const (
	localDone  = 1 << iota // the server sent END_STREAM
	remoteDone             // the client sent END_STREAM
)

// h2streams is the view of one connection's streams from the frames on the
// wire. It is not safe for concurrent use; conn guards it.
type h2streams struct {
	in, out frameScanner
	// open lists the streams the client opened that are not closed in
	// both directions, with the ends seen. A connection has few streams
	// open at once (at most its MaxConcurrentStreams), so a slice searched
	// linearly is cheaper than a map.
	open []openStream
	// maxClient is the highest stream ID the client opened.
	maxClient uint32
	// goAway is set once a GOAWAY from the server has reached the socket.
	goAway     bool
	goAwayCode uint32
	lastStream uint32
	// pushed is set if the server promised a stream: we do not follow
	// pushed streams, so the connection is left to the server to close.
	pushed bool
}

type openStream struct {
	id   uint32
	ends uint8
}

func (h *h2streams) find(id uint32) int {
	for i := len(h.open) - 1; i >= 0; i-- {
		if h.open[i].id == id {
			return i
		}
	}
	return -1
}

func (h *h2streams) remove(id uint32) {
	if i := h.find(id); i >= 0 {
		last := len(h.open) - 1
		h.open[i] = h.open[last]
		h.open = h.open[:last]
	}
}

// read accounts for frames the client sent.
func (h *h2streams) read(p []byte) {
	h.in.feed(p, h.clientFrame)
}

// wrote accounts for frames the server wrote to the socket.
func (h *h2streams) wrote(p []byte) {
	h.out.feed(p, h.serverFrame)
}

func (h *h2streams) clientFrame(f frameHeader, _ []byte) {
	switch f.typ {
	case frameHeaders:
		if f.stream > h.maxClient {
			h.maxClient = f.stream
			if h.goAway && f.stream > h.lastStream {
				return // the server ignores streams after its GOAWAY
			}
			h.open = append(h.open, openStream{id: f.stream})
		}
		if f.flags&flagEndStream != 0 {
			h.end(f.stream, remoteDone)
		}
	case frameData:
		if f.flags&flagEndStream != 0 {
			h.end(f.stream, remoteDone)
		}
	case frameRSTStream:
		h.remove(f.stream)
	}
}

func (h *h2streams) serverFrame(f frameHeader, payload []byte) {
	switch f.typ {
	case frameHeaders, frameData:
		if f.flags&flagEndStream != 0 {
			h.end(f.stream, localDone)
		}
	case frameRSTStream:
		h.remove(f.stream)
	case framePushPromise:
		h.pushed = true
	case frameGoAway:
		if len(payload) < 8 {
			h.pushed = true // malformed: leave the connection to the server
			return
		}
		last := binary.BigEndian.Uint32(payload[:4]) & 0x7fffffff
		if !h.goAway || last < h.lastStream {
			h.lastStream = last
		}
		h.goAway = true
		h.goAwayCode = binary.BigEndian.Uint32(payload[4:8])
		kept := h.open[:0]
		for _, st := range h.open {
			if st.id <= h.lastStream {
				kept = append(kept, st) // those after the GOAWAY's cut are ignored
			}
		}
		h.open = kept
	}
}

func (h *h2streams) end(id uint32, side uint8) {
	i := h.find(id)
	if i < 0 {
		return
	}
	h.open[i].ends |= side
	if h.open[i].ends == localDone|remoteDone {
		last := len(h.open) - 1
		h.open[i] = h.open[last]
		h.open = h.open[:last]
	}
}

// drained reports whether the server said a graceful GOAWAY and every
// stream it accepted is closed on the wire in both directions: nothing more
// can be sent that the peer is waiting for.
func (h *h2streams) drained() bool {
	return h.goAway && h.goAwayCode == 0 && !h.pushed && len(h.open) == 0
}
