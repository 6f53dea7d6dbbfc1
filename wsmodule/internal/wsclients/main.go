// Command wsclients opens many WebSocket client connections (gorilla) from a
// process of its own, for wsmodule's benchmarks: a process here may hold at
// most 20,000 file descriptors, so 10,000 connections need their clients in
// a second process.
//
//	wsclients -url ws://127.0.0.1:8080/ws -n 10000 [-ack] [-hello]
//
// It prints "ready N" once N connections are open, then reads every
// connection until it ends, answering close frames (gorilla's default close
// handler echoes them) and, with -ack, answering each message that starts
// with '!' with the text message "ack". With -hello each connection sends
// the text message "hello" once it is open. When every connection has ended it
// prints "done N closes=CODE:COUNT,..." and exits. It exits at once when its
// standard input closes, so that it never outlives the benchmark.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	url := flag.String("url", "", "WebSocket URL to connect to")
	n := flag.Int("n", 1000, "number of connections")
	parallel := flag.Int("dial-parallelism", 64, "connections dialled at once")
	ack := flag.Bool("ack", false, `answer messages starting with '!' with "ack"`)
	hello := flag.Bool("hello", false, `send the text message "hello" once connected`)
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "wsclients: -url is required")
		os.Exit(2)
	}
	go func() {
		// The parent closes our stdin (or dies): stop at once.
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()

	dialer := websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 1024, HandshakeTimeout: 30 * time.Second}
	sem := make(chan struct{}, *parallel)
	var dialed, readers sync.WaitGroup
	var mu sync.Mutex
	var dialErr error
	codes := map[int]int{}
	for i := range *n {
		sem <- struct{}{}
		dialed.Go(func() {
			c, _, err := dialer.Dial(*url, nil)
			<-sem
			if err != nil {
				mu.Lock()
				dialErr = errors.Join(dialErr, fmt.Errorf("connection %d: %w", i, err))
				mu.Unlock()
				return
			}
			if *hello {
				if err := c.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
					mu.Lock()
					dialErr = errors.Join(dialErr, fmt.Errorf("connection %d: hello: %w", i, err))
					mu.Unlock()
					return
				}
			}
			// Read from the start, so that nothing is left to set up
			// once "ready" is printed.
			readers.Go(func() {
				code := read(c, *ack)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			})
		})
	}
	dialed.Wait()
	if dialErr != nil {
		fmt.Fprintln(os.Stderr, "wsclients: dial:", dialErr)
		os.Exit(1)
	}
	fmt.Printf("ready %d\n", *n)
	readers.Wait()
	keys := make([]int, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d:%d", k, codes[k])
	}
	fmt.Printf("done %d closes=%s\n", *n, strings.Join(parts, ","))
}

// read reads c until it ends and returns the close code it ended with, or
// -1 when it ended without a close frame.
func read(c *websocket.Conn, ack bool) int {
	defer c.Close()
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			return -1
		}
		if ack && len(data) > 0 && data[0] == '!' {
			if err := c.WriteMessage(websocket.TextMessage, []byte("ack")); err != nil {
				return -1
			}
		}
	}
}
