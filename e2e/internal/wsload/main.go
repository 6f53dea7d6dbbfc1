// Command wsload holds many WebSocket clients (gorilla/websocket) open
// against one URL, usually a load balancer, for the reliability suite
// (package e2e). Each client reads numbered text messages ("17"), checks that
// they arrive in order without a gap, answers the server's close frame,
// reconnects at once, and records every connection it had (see [Conn]).
//
// A connection counts as set up when the server has echoed a first message
// ([Probe]) back: the handshake's response can reach the client before the
// server's hub tracks the connection, and a message broadcast in between
// does not reach it.
//
// It reads commands, one per line, on standard input:
//
//	sync   prints "sync <connected> <min-last>": the clients connected now,
//	       and the lowest last message number among them (-1 if one has
//	       received none)
//	stop   every client sends close 1000 and waits for the answer, then
//	       wsload prints the JSON list of all connections and exits
//
// It stops by itself after -max (default 10m).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Probe is the message each client sends after the handshake; the server
// echoes it.
const Probe = "e2e-ready"

// Conn is the record of one client connection.
type Conn struct {
	Client int `json:"client"`
	// Server is the value of the -server-header response header of the
	// handshake: the load balancer's name for the replica.
	Server string `json:"server"`
	// Conn and Close are Unix nanoseconds: when the server's echo of Probe
	// arrived (so the server tracked the connection), and when the close
	// frame arrived (or the client sent its own, or the connection
	// failed). Conn is Close if the echo never came.
	Conn  int64 `json:"t_conn"`
	Close int64 `json:"t_close"`
	// By says who ended the connection: "server" (a close frame
	// arrived), "client" (we closed it at the end of the run) or "error"
	// (the connection failed without a close frame).
	By   string `json:"by"`
	Code int    `json:"code"`
	// First and Last are the first and last message numbers received
	// before the close frame; Count how many arrived.
	First int64 `json:"first"`
	Last  int64 `json:"last"`
	Count int64 `json:"count"`
	// Gaps counts messages whose number was not the previous one plus one;
	// Bad counts messages that were not a number.
	Gaps int64  `json:"gaps"`
	Bad  int64  `json:"bad"`
	Err  string `json:"err,omitempty"`
}

// DialFailure is a failed connection attempt.
type DialFailure struct {
	Client int    `json:"client"`
	T      int64  `json:"t"`
	Status int    `json:"status,omitempty"`
	Err    string `json:"err"`
}

// Output is what wsload prints at the end.
type Output struct {
	Conns        []Conn        `json:"conns"`
	DialFailures []DialFailure `json:"dial_failures"`
}

type state struct {
	url, header string
	connected   atomic.Int64
	stopping    chan struct{}
	// last holds, per connected client, the number of the last message it
	// received.
	last sync.Map // client id -> *atomic.Int64

	mu  sync.Mutex
	out Output
}

func main() {
	var (
		url    = flag.String("url", "", "WebSocket URL (required)")
		n      = flag.Int("n", 100, "number of clients")
		first  = flag.Int("first", 0, "number of the first client")
		header = flag.String("server-header", "X-Server", "handshake response header that names the replica")
		maxRun = flag.Duration("max", 10*time.Minute, "hard limit on the run")
	)
	flag.Parse()
	if *url == "" {
		flag.Usage()
		os.Exit(2)
	}
	s := &state{url: *url, header: *header, stopping: make(chan struct{})}
	var wg sync.WaitGroup
	for i := range *n {
		wg.Go(func() { s.client(*first + i) })
	}
	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- sc.Text()
		}
		close(cmds)
	}()
	deadline := time.After(*maxRun)
loop:
	for {
		select {
		case cmd, ok := <-cmds:
			switch {
			case !ok || cmd == "stop":
				break loop
			case cmd == "sync":
				fmt.Println("sync", s.connected.Load(), s.minLast())
			}
		case <-deadline:
			break loop
		}
	}
	close(s.stopping)
	wg.Wait()
	s.mu.Lock()
	out, _ := json.Marshal(s.out)
	s.mu.Unlock()
	fmt.Println(string(out))
}

// minLast returns the lowest last message number of the connected clients.
func (s *state) minLast() int64 {
	lowest := int64(-2)
	s.last.Range(func(_, v any) bool {
		if l := v.(*atomic.Int64).Load(); lowest == -2 || l < lowest {
			lowest = l
		}
		return true
	})
	if lowest == -2 {
		return -1
	}
	return lowest
}

func (s *state) record(c Conn) {
	s.mu.Lock()
	s.out.Conns = append(s.out.Conns, c)
	s.mu.Unlock()
}

func (s *state) stopped() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// client connects, reads until the connection ends, and reconnects, until
// the run stops.
func (s *state) client(id int) {
	backoff := 10 * time.Millisecond
	for !s.stopped() {
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
		ws, resp, err := d.Dial(s.url, nil)
		if err != nil {
			f := DialFailure{Client: id, T: time.Now().UnixNano(), Err: err.Error()}
			if resp != nil {
				f.Status = resp.StatusCode
			}
			s.mu.Lock()
			s.out.DialFailures = append(s.out.DialFailures, f)
			s.mu.Unlock()
			select {
			case <-time.After(backoff):
			case <-s.stopping:
			}
			backoff = min(2*backoff, 200*time.Millisecond)
			continue
		}
		backoff = 10 * time.Millisecond
		s.record(s.serve(id, ws, resp))
	}
}

// serve reads one connection until it ends.
func (s *state) serve(id int, ws *websocket.Conn, resp *http.Response) Conn {
	defer ws.Close()
	c := Conn{Client: id, Server: resp.Header.Get(s.header), First: -1, Last: -1}
	last := new(atomic.Int64)
	last.Store(-1)
	var counted atomic.Bool // in s.connected and s.last
	up := func() {
		s.last.Store(id, last)
		s.connected.Add(1)
		counted.Store(true)
	}
	down := func() {
		if counted.CompareAndSwap(true, false) {
			s.last.Delete(id)
			s.connected.Add(-1)
		}
	}
	defer down()
	ws.SetCloseHandler(func(code int, text string) error {
		// Count the connection gone before answering, so that once the
		// server has our answer (and its process may exit) "sync" no
		// longer counts it.
		s.mu.Lock()
		if c.By == "" {
			c.By, c.Code, c.Close = "server", code, time.Now().UnixNano()
		}
		s.mu.Unlock()
		down()
		msg := websocket.FormatCloseMessage(code, "")
		_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		return nil
	})
	done := make(chan struct{})
	defer close(done)
	go func() { // at the end of the run, start the close handshake
		select {
		case <-s.stopping:
			s.mu.Lock()
			ours := c.By == ""
			if ours {
				c.By, c.Code, c.Close = "client", websocket.CloseNormalClosure, time.Now().UnixNano()
			}
			s.mu.Unlock()
			if !ours {
				return // the server closed first
			}
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			if ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)) == nil {
				_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			}
		case <-done:
		}
	}()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(Probe)); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		c.By, c.Close, c.Err, c.Code = "error", time.Now().UnixNano(), err.Error(), websocket.CloseAbnormalClosure
		c.Conn = c.Close
		return c
	}
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			s.mu.Lock()
			defer s.mu.Unlock()
			var ce *websocket.CloseError
			switch {
			case c.By == "client":
				// our close; the server's answer (or its absence) ends it
				if !errors.As(err, &ce) {
					c.Err = err.Error()
				}
			case c.By == "server":
			default:
				c.By, c.Close, c.Err = "error", time.Now().UnixNano(), err.Error()
				c.Code = websocket.CloseAbnormalClosure
				if errors.As(err, &ce) {
					c.Code = ce.Code
				}
			}
			if c.Conn == 0 {
				c.Conn = c.Close // never set up: nothing was due to it
			}
			return c
		}
		s.mu.Lock()
		stopping := c.By != ""
		s.mu.Unlock()
		if stopping {
			continue // after the close frame: not counted
		}
		if string(msg) == Probe && c.Conn == 0 {
			s.mu.Lock()
			c.Conn = time.Now().UnixNano()
			s.mu.Unlock()
			up()
			continue
		}
		v, err := strconv.ParseInt(string(msg), 10, 64)
		switch {
		case err != nil:
			c.Bad++
			continue
		case c.First < 0:
			c.First = v
		case v != c.Last+1:
			c.Gaps++
		}
		c.Last = v
		c.Count++
		last.Store(v)
	}
}
