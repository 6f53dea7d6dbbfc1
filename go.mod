module github.com/lameduck/lameduck

go 1.26.0

toolchain go1.27.4

require (
	github.com/gorilla/websocket v1.5.3
	go.uber.org/fx v1.24.0
	go.uber.org/goleak v1.3.0
	go.uber.org/multierr v1.10.0
	go.uber.org/zap v1.28.0
	go.yaml.in/yaml/v3 v3.0.6
)

require (
	go.uber.org/dig v1.19.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
