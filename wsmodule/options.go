package wsmodule

import (
	"go.uber.org/zap"
)

// Option configures a [Hub].
type Option func(*hubOptions)

type hubOptions struct {
	onConnect func(*Conn)
	onMessage func(*Conn, MessageType, []byte)
	onClose   func(*Conn, error)
	log       *zap.Logger
	readBuf   int
	writeBuf  int
}

// OnConnect sets the function called once for each new connection, before
// its first message is read. It runs on the connection's reader, so the
// connection's messages wait for it; it may call [Conn.Send].
func OnConnect(f func(c *Conn)) Option { return func(o *hubOptions) { o.onConnect = f } }

// OnMessage sets the function called for every text or binary message a
// peer sends. Calls for one connection are sequential, in the order the
// messages arrived; calls for different connections run concurrently. data
// belongs to the callee. While OnMessage runs, the connection reads nothing
// (not even its peer's close frame), so hand long work to a task pool.
func OnMessage(f func(c *Conn, typ MessageType, data []byte)) Option {
	return func(o *hubOptions) { o.onMessage = f }
}

// OnClose sets the function called once when a connection has ended, with
// the reason: a *websocket.CloseError when the peer sent a close frame
// (code 1001 when the hub drained it), another error when the connection
// failed. The connection's context is already cancelled. The hub's drain
// waits for OnClose to return.
func OnClose(f func(c *Conn, err error)) Option { return func(o *hubOptions) { o.onClose = f } }

// WithLogger sets the logger for the drain's two log lines and for
// connection failures at debug level. The default logs nothing.
func WithLogger(l *zap.Logger) Option { return func(o *hubOptions) { o.log = l } }

// WithBufferSizes sets the size of each connection's read buffer and of the
// pooled write buffers (defaults [DefaultReadBufferSize] and
// [DefaultWriteBufferSize]). The read buffer is held for the connection's
// whole life and must be at least 512 bytes; larger messages are still
// accepted up to websocket.readLimit.
func WithBufferSizes(read, write int) Option {
	return func(o *hubOptions) { o.readBuf, o.writeBuf = read, write }
}
