package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzLoad feeds Load an arbitrary config file and one arbitrary environment
// variable. Load must not panic; what it accepts must validate, load the same
// way twice, and survive a round trip through the environment (every setting
// written as LAMEDUCK_* gives the same config back); what it rejects must say
// so as a config error whose every problem names a key or variable and what
// is allowed.
//
//	go test -fuzz=FuzzLoad -fuzztime=60s ./config
func FuzzLoad(f *testing.F) {
	for _, seed := range []struct{ yaml, key, val string }{
		{"", "LAMEDUCK_STOP_TOTAL", "20s"},
		{"stop:\n  total: 30s\n  shutdown: 15s\n", "KUBERNETES_SERVICE_HOST", "10.96.0.1"},
		{"servers:\n  public: null\n  internal:\n    addr: 127.0.0.1:0\n    protocols: [h2c]\n", "LAMEDUCK_SERVERS_INTERNAL_MAX_CONNS", "10"},
		{"servers:\n  public: &b {readTimeout: 1s}\n  api: {<<: *b, addr: ':8081'}\n", "LAMEDUCK_SERVERS_API_PROTOCOLS", "http1"},
		{"websocket:\n  readLimit: 64KiB\n  allowedOrigins: ['*', https://a.example.com]\n  closeReason: ' bye '\n", "LAMEDUCK_WEBSOCKET_SUBPROTOCOLS", "v1, v2"},
		{"stop: {gracePeriod: 30s}\nlog: {level: debug, format: console}\n", "LAMEDUCK_STOP_GRACE_PERIOD", "20s"},
		{"stop:\n  totl: 5s\n", "LAMEDUCK_STOP_TOTL", "5s"},
		{"a: &a [*a]\n", "LAMEDUCK_E2E_SCALE", "1"},
		{"stop: &s {<<: *s}\n", "LAMEDUCK_TASKS_WHEN_FULL", "fail"},
		{"--- \n---\n", "LAMEDUCK_ADMIN_ENABLED", "false"},
		{"tasks: {maxRunning: 0x10}\nadmin: {addr: '[::1]:9090', pprof: true}\n", "LAMEDUCK_WEBSOCKET_CLOSE_CODE", "4000"},
		{"servers: {public: {maxHeaderBytes: 1MB}}\n", "LAMEDUCK_SERVERS_PUBLIC_MAX_HEADER_BYTES", "9223372036854775807"},
	} {
		f.Add([]byte(seed.yaml), seed.key, seed.val)
	}
	f.Fuzz(func(t *testing.T, data []byte, key, val string) {
		path := filepath.Join(t.TempDir(), "lameduck.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		environ := []string{EnvFile + "=" + path, key + "=" + val}
		cfg, err := Load(environ)
		cfg2, err2 := Load(environ)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() || !reflect.DeepEqual(cfg, cfg2) {
			t.Fatalf("Load is not deterministic:\n%v\n%v", err, err2)
		}
		if err != nil {
			checkRejection(t, err)
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a config that does not validate: %v", err)
		}
		if representable(cfg) {
			checkEnvRoundTrip(t, cfg)
		}
	})
}

func checkRejection(t *testing.T, err error) {
	msg := err.Error()
	if !strings.HasPrefix(msg, "config: ") || strings.HasPrefix(msg, "config: config:") {
		t.Fatalf("error without exactly one \"config: \" prefix: %q", msg)
	}
	var e *Error
	if !errors.As(err, &e) {
		return // a YAML syntax error, wrapped with the file name
	}
	if len(e.Problems) == 0 {
		t.Fatalf("config error without problems: %q", msg)
	}
	for _, p := range e.Problems {
		if p.Want == "" || p.Key == "" && p.Env == "" && p.Line == 0 {
			t.Fatalf("problem says neither where nor what is allowed: %#v", p)
		}
	}
}

// representable reports whether every setting of c can be written in an
// environment variable: strings without surrounding space (values are
// trimmed) and list items without commas (the separator).
func representable(c Config) bool {
	ok := true
	walk(reflect.ValueOf(&c).Elem(), nil, false, func(_ []string, v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			ok = ok && strings.TrimSpace(v.String()) == v.String()
		case reflect.Slice:
			for i := range v.Len() {
				s := v.Index(i).String()
				ok = ok && s != "" && !strings.Contains(s, ",") && strings.TrimSpace(s) == s
			}
		}
	})
	return ok
}

// checkEnvRoundTrip writes every setting of c as its environment variable,
// applies them to a config that has c's servers and nothing else, and wants c
// back.
func checkEnvRoundTrip(t *testing.T, c Config) {
	var environ []string
	for _, k := range c.Keys() {
		environ = append(environ, k.Env+"="+k.Default)
	}
	var back Config
	back.Servers = Servers{}
	for name := range c.Servers {
		back.Servers[name] = Server{}
	}
	if err := back.ApplyEnv(environ); err != nil {
		t.Fatalf("the environment rendering of an accepted config is rejected: %v", err)
	}
	if got, want := keyMap(back), keyMap(c); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip through the environment changed the config:\n got %v\nwant %v", got, want)
	}
	if err := back.Validate(); err != nil {
		t.Fatalf("round trip through the environment gives an invalid config: %v", err)
	}
}
