package wsmodule_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lameduck/lameduck/wsmodule"
)

// A hub without Fx: serve it, talk to it, drain it.
func ExampleNewHub() {
	hub, err := wsmodule.NewHub("echo", wsmodule.DefaultSettings(nil),
		wsmodule.OnMessage(func(c *wsmodule.Conn, typ wsmodule.MessageType, data []byte) {
			_ = c.Send(typ, append([]byte("echo: "), data...))
		}))
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: hub, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	client, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		panic(err)
	}
	defer client.Close()
	_ = client.WriteMessage(websocket.TextMessage, []byte("hello"))
	_, msg, _ := client.ReadMessage()
	fmt.Println(string(msg))

	// In an application the lifecycle coordinator runs hub.Stop in the
	// hub-drain phase (see Hub.Step); the client answers the close frame
	// while it reads.
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		drained <- hub.Stop(ctx)
	}()
	_, _, err = client.ReadMessage()
	fmt.Println(err)
	fmt.Println("drain:", <-drained)
	// Output:
	// echo: hello
	// websocket: close 1001 (going away): server going away
	// drain: <nil>
}
