// Package ws compares the memory an idle WebSocket connection costs a
// server: wsmodule's Hub against plain gorilla/websocket (default buffers;
// 1 KiB buffers with a write-buffer pool) and coder/websocket. It holds only
// the benchmark; see docs/benchmarks/wsmodule.md.
package ws
