package config

import "time"

// Default returns the built-in settings, right for production on Kubernetes.
// environ is the process environment in os.Environ form; it decides one
// default: the preStop delay is 5s when KUBERNETES_SERVICE_HOST is set (the
// process runs in a pod) and 0 elsewhere.
func Default(environ []string) Config {
	preStop := time.Duration(0)
	if v, ok := lookup(environ, "KUBERNETES_SERVICE_HOST"); ok && v != "" {
		preStop = DefaultKubernetesPreStopDelay
	}
	return Config{
		Stop: Stop{
			Total:        25 * time.Second,
			Reserve:      time.Second,
			PreStopDelay: preStop,
			Shutdown:     10 * time.Second,
			HubDrain:     5 * time.Second,
			Wait:         4 * time.Second,
			ForceGrace:   250 * time.Millisecond,
			Margin:       3 * time.Second,
		},
		Servers: Servers{DefaultServerName: DefaultServer(":8080")},
		Admin: Admin{
			Enabled: true,
			Addr:    ":9090",
		},
		WebSocket: WebSocket{
			ReadLimit:        MiB,
			HandshakeTimeout: 10 * time.Second,
			SendQueue:        64,
			WriteTimeout:     10 * time.Second,
			PingPeriod:       30 * time.Second,
			PongTimeout:      60 * time.Second,
			CloseCode:        CloseGoingAway,
			CloseReason:      "server going away",
			CloseParallelism: 256,
		},
		Tasks: Tasks{
			MaxRunning: 1000,
			Queue:      10_000,
			WhenFull:   Wait,
		},
		Log: Log{
			Level:  "info",
			Format: "json",
		},
	}
}

// DefaultServerName is the name of the application server that exists by
// default. Routes that name no server go to it.
const DefaultServerName = "public"

// DefaultKubernetesPreStopDelay is the preStop delay used when the process
// runs in Kubernetes and none is configured: long enough for the endpoints
// controller, kube-proxy and common ingress controllers to stop routing to
// the pod.
const DefaultKubernetesPreStopDelay = 5 * time.Second

// DefaultServer returns the settings a server gets for every key that the
// file or the environment does not set. A server added in the config file
// starts from these.
func DefaultServer(addr string) Server {
	return Server{
		Addr:                 addr,
		Protocols:            []Protocol{HTTP1, H2C},
		ReadHeaderTimeout:    5 * time.Second,
		IdleTimeout:          120 * time.Second,
		MaxHeaderBytes:       64 * KiB,
		MaxConcurrentStreams: 250,
		H2IdleGrace:          100 * time.Millisecond,
	}
}
