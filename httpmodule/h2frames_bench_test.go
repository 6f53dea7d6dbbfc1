package httpmodule

import (
	"net"
	"testing"
	"time"
)

// fakeConn is a net.Conn whose reads return one prepared chunk at a time
// and whose writes are discarded, to measure the connection wrapper alone.
type fakeConn struct {
	in [][]byte
	i  int
}

func (c *fakeConn) Read(p []byte) (int, error) {
	n := copy(p, c.in[c.i%len(c.in)])
	c.i++
	return n, nil
}
func (c *fakeConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return nil }
func (c *fakeConn) RemoteAddr() net.Addr             { return nil }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkH2ConnAccounting is what the connection wrapper adds to one
// HTTP/2 request of 16 concurrent ones: the client's HEADERS read, the
// server's HEADERS and DATA written, each frame header followed in the
// stream accounting. Per op: one request.
func BenchmarkH2ConnAccounting(b *testing.B) {
	const window = 16 // streams in flight, like h2load -m16
	headers := make([]byte, 40)
	var reqs, resps [][]byte
	for i := range 1024 {
		id := uint32(2*i + 1)
		reqs = append(reqs, frame(frameHeaders, 0x5, id, headers))
		resps = append(resps, append(frame(frameHeaders, 0x4, id, headers[:20]), frame(frameData, flagEndStream, id, make([]byte, 13))...))
	}
	c := &conn{Conn: &fakeConn{in: reqs}, run: &serverRun{s: &Server{}}}
	c.proto.Store(protoH2)
	c.state.Store(1) // active
	buf := make([]byte, 4096)
	b.ReportAllocs()
	// Keep window requests open: request i is answered after request
	// i+window was read.
	for i := range window {
		c.Read(buf)
		_ = i
	}
	i := 0
	for b.Loop() {
		c.Read(buf)
		c.Write(resps[i%len(resps)])
		i++
		if i%len(reqs) == 0 {
			b.StopTimer()
			c.h2 = h2streams{}
			c.Conn.(*fakeConn).i = 0
			for range window {
				c.Read(buf)
			}
			b.StartTimer()
		}
	}
}
