//go:build !unix

package wsmodule

import (
	"net"
	"syscall"
)

// rawConn returns nil: without a portable non-blocking peek, readers wait
// inside gorilla's read.
func rawConn(net.Conn) syscall.RawConn { return nil }

func waitReadable(syscall.RawConn) error { return nil }
