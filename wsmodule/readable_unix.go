//go:build unix

package wsmodule

import (
	"net"
	"syscall"
)

// rawConn returns the socket under c, for waitReadable, or nil when c is
// not a plain socket (TLS, net.Pipe): readiness of the socket would not
// say whether such a connection has data.
func rawConn(c net.Conn) syscall.RawConn {
	var sc syscall.Conn
	switch c := c.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// waitReadable parks until the socket has data (or an end of stream, an
// error, or a passed read deadline), without reading any of it. Its call
// chain is far shallower than a blocked gorilla read, so that an idle
// reader fits in the stack a goroutine starts with (see readLoop).
//
// syscall.RawConn.Read calls hasData and, while it returns false, waits
// for the runtime's poller to report the socket readable and calls it
// again; it returns hasData's first true, or the read deadline's error.
func waitReadable(rc syscall.RawConn) error {
	return rc.Read(hasData)
}

// hasData peeks at the socket without blocking (recv(2) with MSG_PEEK and
// MSG_DONTWAIT: the byte stays in the socket for gorilla to read): true
// when a read would not block, false to wait for the poller.
func hasData(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}
