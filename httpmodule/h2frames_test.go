package httpmodule

import (
	"encoding/binary"
	"slices"
	"testing"
)

func frame(typ, flags byte, stream uint32, payload []byte) []byte {
	b := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[5:], stream)
	return append(b, payload...)
}

func goAwayFrame(last, code uint32) []byte {
	p := make([]byte, 8, 12)
	binary.BigEndian.PutUint32(p, last)
	binary.BigEndian.PutUint32(p[4:], code)
	return frame(frameGoAway, 0, 0, append(p, "dbg!"...))
}

type seenFrame struct {
	h       frameHeader
	payload string
}

// The scanner finds the same frames however the stream is cut into
// chunks.
func TestFrameScannerAnyChunking(t *testing.T) {
	var stream []byte
	stream = append(stream, frame(0x4, 0, 0, make([]byte, 18))...)
	stream = append(stream, frame(frameHeaders, 0x5, 1, []byte("hpack block"))...)
	stream = append(stream, frame(frameData, 0x1, 1, make([]byte, 300))...)
	stream = append(stream, goAwayFrame(1, 0)...)
	stream = append(stream, frame(frameRSTStream, 0, 3, []byte{0, 0, 0, 8})...)
	stream = append(stream, frame(0x6, 0, 0, make([]byte, 8))...)
	want := []seenFrame{
		{frameHeader{18, 0x4, 0, 0}, ""},
		{frameHeader{11, frameHeaders, 0x5, 1}, ""},
		{frameHeader{300, frameData, 0x1, 1}, ""},
		{frameHeader{12, frameGoAway, 0, 0}, string(goAwayFrame(1, 0)[9:17])},
		{frameHeader{4, frameRSTStream, 0, 3}, ""},
		{frameHeader{8, 0x6, 0, 0}, ""},
	}
	for size := 1; size <= len(stream); size++ {
		var s frameScanner
		var got []seenFrame
		for p := stream; len(p) > 0; {
			n := min(size, len(p))
			s.feed(p[:n], func(h frameHeader, payload []byte) { got = append(got, seenFrame{h, string(payload)}) })
			p = p[n:]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("chunks of %d bytes: got %v, want %v", size, got, want)
		}
	}
}
