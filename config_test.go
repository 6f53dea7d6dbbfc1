package lameduck_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/bgwork"
	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/setting"
	"github.com/lameduck/lameduck/wsmodule"
)

const inKubernetes = "KUBERNETES_SERVICE_HOST=10.96.0.1"

// writeConfig writes a YAML config file and returns the environment entry
// that points LoadConfig at it.
func writeConfig(t testing.TB, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lameduck.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.EnvFile + "=" + path
}

// problemsOf returns the problems of a config error, failing the test if err
// is not one.
func problemsOf(t testing.TB, err error) []config.Problem {
	t.Helper()
	var e *config.Error
	if !errors.As(err, &e) {
		t.Fatalf("want a *config.Error, got %T: %v", err, err)
	}
	return e.Problems
}

// findProblem returns the problem about key (a YAML path, or an environment
// variable for unknown variables).
func findProblem(t testing.TB, err error, key string) config.Problem {
	t.Helper()
	for _, p := range problemsOf(t, err) {
		if p.Key == key || p.Key == "" && p.Env == key {
			return p
		}
	}
	t.Fatalf("no problem about %s in:\n%v", key, err)
	return config.Problem{}
}

func TestDefaultIsValid(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		preStop time.Duration
	}{
		{"outside Kubernetes", nil, 0},
		{"empty KUBERNETES_SERVICE_HOST", []string{"KUBERNETES_SERVICE_HOST="}, 0},
		{"in Kubernetes", []string{inKubernetes}, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := lameduck.DefaultConfig(tc.environ)
			if err := cfg.Validate(); err != nil {
				t.Fatalf("defaults do not validate: %v", err)
			}
			if cfg.Stop.PreStopDelay != tc.preStop {
				t.Errorf("stop.preStopDelay = %v, want %v", cfg.Stop.PreStopDelay, tc.preStop)
			}
			loaded, err := lameduck.LoadConfig(tc.environ)
			if err != nil {
				t.Fatalf("LoadConfig with no settings: %v", err)
			}
			if !reflect.DeepEqual(loaded, cfg) {
				t.Errorf("LoadConfig with no settings = %+v, want the defaults %+v", loaded, cfg)
			}
		})
	}
}

// The defaults must fit Kubernetes' default terminationGracePeriodSeconds
// (30s) with the margin, preStop delay included.
func TestDefaultFitsKubernetesGracePeriod(t *testing.T) {
	cfg, err := lameduck.LoadConfig([]string{inKubernetes, "LAMEDUCK_STOP_GRACE_PERIOD=30s"})
	if err != nil {
		t.Fatalf("defaults with a 30s grace period: %v", err)
	}
	if got := cfg.Stop.Total + cfg.Stop.Margin; got > 30*time.Second {
		t.Errorf("total+margin = %v, more than 30s", got)
	}
	if got := cfg.Stop.FxStopTimeout(); got != cfg.Stop.Total+cfg.Stop.Margin {
		t.Errorf("FxStopTimeout() = %v, want total+margin", got)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeConfig(t, `
stop:
  total: 20s
  preStopDelay: 2s
log:
  level: debug
`)
	cfg, err := lameduck.LoadConfig([]string{inKubernetes, file, "LAMEDUCK_STOP_TOTAL=22s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"stop.total (default < file < env)", cfg.Stop.Total, 22 * time.Second},
		{"stop.preStopDelay (file over the Kubernetes default)", cfg.Stop.PreStopDelay, 2 * time.Second},
		{"log.level (file over default)", cfg.Log.Level, "debug"},
		{"log.format (default)", cfg.Log.Format, "json"},
		{"stop.shutdown (default)", cfg.Stop.Shutdown, 10 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestFileServers(t *testing.T) {
	t.Run("partial server keeps its defaults, new server starts from DefaultServerSettings", func(t *testing.T) {
		cfg, err := lameduck.LoadConfig([]string{writeConfig(t, `
servers:
  public:
    addr: ":8081"
  internal:
    addr: "127.0.0.1:8082"
    protocols: [http1]
`)})
		if err != nil {
			t.Fatal(err)
		}
		want := httpmodule.DefaultServerSettings(":8081")
		if !reflect.DeepEqual(cfg.Servers["public"], want) {
			t.Errorf("public = %+v, want %+v", cfg.Servers["public"], want)
		}
		want = httpmodule.DefaultServerSettings("127.0.0.1:8082")
		want.Protocols = []httpmodule.Protocol{httpmodule.HTTP1}
		if !reflect.DeepEqual(cfg.Servers["internal"], want) {
			t.Errorf("internal = %+v, want %+v", cfg.Servers["internal"], want)
		}
	})
	t.Run("null removes a server", func(t *testing.T) {
		cfg, err := lameduck.LoadConfig([]string{writeConfig(t, "servers: {public: null, internal: {addr: ':8081'}}\n")})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cfg.Servers["public"]; ok || len(cfg.Servers) != 1 {
			t.Errorf("servers = %v, want only internal", cfg.Servers)
		}
	})
	t.Run("null servers section changes nothing", func(t *testing.T) {
		cfg, err := lameduck.LoadConfig([]string{writeConfig(t, "servers:\n")})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg.Servers, lameduck.DefaultConfig(nil).Servers) {
			t.Errorf("servers = %v, want the default", cfg.Servers)
		}
	})
	t.Run("env sets a server from the file", func(t *testing.T) {
		cfg, err := lameduck.LoadConfig([]string{
			writeConfig(t, "servers: {internal: {addr: ':8081'}}\n"),
			"LAMEDUCK_SERVERS_INTERNAL_ADDR=127.0.0.1:0",
			"LAMEDUCK_SERVERS_INTERNAL_PROTOCOLS=h2c",
		})
		if err != nil {
			t.Fatal(err)
		}
		if s := cfg.Servers["internal"]; s.Addr != "127.0.0.1:0" || !reflect.DeepEqual(s.Protocols, []httpmodule.Protocol{httpmodule.H2C}) {
			t.Errorf("internal = %+v", s)
		}
	})
	t.Run("env cannot add a server", func(t *testing.T) {
		_, err := lameduck.LoadConfig([]string{"LAMEDUCK_SERVERS_INTERNAL_ADDR=:8081"})
		p := findProblem(t, err, "LAMEDUCK_SERVERS_INTERNAL_ADDR")
		for _, want := range []string{`there is no "internal"`, "config file"} {
			if !strings.Contains(p.Want, want) {
				t.Errorf("problem %q does not say %q", p, want)
			}
		}
	})
	t.Run("bad server name", func(t *testing.T) {
		_, err := lameduck.LoadConfig([]string{writeConfig(t, "servers: {Public_API: {addr: ':8081'}}\n")})
		p := findProblem(t, err, "servers.Public_API")
		if p.Line != 1 || !strings.Contains(p.Want, "lower-case letters and digits") {
			t.Errorf("problem = %v", p)
		}
	})
	t.Run("the admin server's name", func(t *testing.T) {
		_, err := lameduck.LoadConfig([]string{writeConfig(t, "servers: {admin: {addr: ':8081'}}\n")})
		if p := findProblem(t, err, "servers.admin"); !strings.Contains(p.Want, `a name other than "admin"`) {
			t.Errorf("problem = %v", p)
		}
	})
}

func TestUnknownFileKeys(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, key string
		line            int
		want            string
	}{
		{"typo in a section", "stop:\n  total: 20s\n  totl: 5s\n", "stop.totl", 3, "did you mean stop.total?"},
		{"typo in a section name", "sevrers:\n  public: {}\n", "sevrers", 1, "did you mean servers?"},
		{"typo in a server", "servers:\n  public:\n    adr: ':1'\n", "servers.public.adr", 3, "did you mean servers.public.addr?"},
		{"nothing close", "log:\n  zzzzzzzzzz: 1\n", "log.zzzzzzzzzz", 2, "a known key"},
		{"a setting as a section", "stop:\n  total:\n    seconds: 5\n", "stop.total", 3, "a single value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeConfig(t, tc.yaml)
			_, err := lameduck.LoadConfig([]string{file})
			p := findProblem(t, err, tc.key)
			if p.Line != tc.line || !strings.Contains(p.Want, tc.want) {
				t.Errorf("problem = %v; want line %d and %q", p, tc.line, tc.want)
			}
			path := strings.TrimPrefix(file, config.EnvFile+"=")
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the file %s:\n%v", path, err)
			}
		})
	}
	t.Run("no suggestion when nothing is close", func(t *testing.T) {
		_, err := lameduck.LoadConfig([]string{writeConfig(t, "log:\n  zzzzzzzzzz: 1\n")})
		if p := findProblem(t, err, "log.zzzzzzzzzz"); strings.Contains(p.Want, "did you mean") {
			t.Errorf("problem = %v", p)
		}
	})
}

func TestUnknownEnv(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"LAMEDUCK_STOP_TOTL", "did you mean LAMEDUCK_STOP_TOTAL?"},
		{"LAMEDUCK_WEBSOCKET_READLIMIT", "did you mean LAMEDUCK_WEBSOCKET_READ_LIMIT?"},
		{"LAMEDUCK_SERVERS_PUBLIC_ADR", "did you mean LAMEDUCK_SERVERS_PUBLIC_ADDR?"},
		{"LAMEDUCK_E2EX", "a known LAMEDUCK_* variable"},
		{"LAMEDUCK_BENCH", "a known LAMEDUCK_* variable"},
		{"LAMEDUCK_QQQ", "see the README's config table"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			_, err := lameduck.LoadConfig([]string{tc.env + "=1"})
			p := findProblem(t, err, tc.env)
			if p.Value != "1" || !strings.Contains(p.Want, tc.want) {
				t.Errorf("problem = %v; want %q", p, tc.want)
			}
		})
	}
}

// LAMEDUCK_CONFIG is the one LAMEDUCK_* variable that is not a setting;
// variables of other programs, and names in another case, are not ours. The
// test suites' own variables (LAMEDUCK_E2E*, LAMEDUCK_BENCH*) are not
// reserved: the suites remove them from what they start, and anywhere else
// they are unknown settings.
func TestReservedEnv(t *testing.T) {
	cfg, err := lameduck.LoadConfig([]string{
		"LAMEDUCK_CONFIG=",
		"PATH=/usr/bin", // not ours
		"lameduck_stop_total=nonsense",
		"LAMEDUCK_STOP_TOTAL", // no "=": not a variable
	})
	if err != nil {
		t.Fatalf("reserved variables rejected: %v", err)
	}
	if !reflect.DeepEqual(cfg, lameduck.DefaultConfig(nil)) {
		t.Errorf("reserved variables changed the config")
	}
	_, err = lameduck.LoadConfig([]string{"LAMEDUCK_E2E=1", "LAMEDUCK_E2E_SCALE=3", "LAMEDUCK_BENCH_QUICK=1"})
	if n := len(problemsOf(t, err)); n != 3 {
		t.Errorf("%d problems, want the 3 variables as unknown:\n%v", n, err)
	}
	for _, name := range []string{"LAMEDUCK_E2E", "LAMEDUCK_E2E_SCALE", "LAMEDUCK_BENCH_QUICK"} {
		if p := findProblem(t, err, name); !strings.Contains(p.Want, "a known LAMEDUCK_* variable") {
			t.Errorf("problem = %v", p)
		}
	}
}

func TestEnvValues(t *testing.T) {
	for _, tc := range []struct {
		env  string
		get  func(lameduck.Config) any
		want any
	}{
		{"LAMEDUCK_STOP_SHUTDOWN=250ms", func(c lameduck.Config) any { return c.Stop.Shutdown }, 250 * time.Millisecond},
		{"LAMEDUCK_WEBSOCKET_HANDSHAKE_TIMEOUT=1m30s", func(c lameduck.Config) any { return c.WebSocket.HandshakeTimeout }, 90 * time.Second},
		{"LAMEDUCK_STOP_PRE_STOP_DELAY=0", func(c lameduck.Config) any { return c.Stop.PreStopDelay }, time.Duration(0)},
		{"LAMEDUCK_STOP_SHUTDOWN= 3s ", func(c lameduck.Config) any { return c.Stop.Shutdown }, 3 * time.Second},
		{"LAMEDUCK_WEBSOCKET_READ_LIMIT=64KiB", func(c lameduck.Config) any { return c.WebSocket.ReadLimit }, 64 * setting.KiB},
		{"LAMEDUCK_WEBSOCKET_READ_LIMIT=4096", func(c lameduck.Config) any { return c.WebSocket.ReadLimit }, setting.ByteSize(4096)},
		{"LAMEDUCK_WEBSOCKET_READ_LIMIT=1MB", func(c lameduck.Config) any { return c.WebSocket.ReadLimit }, setting.ByteSize(1000 * 1000)},
		{"LAMEDUCK_ADMIN_PPROF=true", func(c lameduck.Config) any { return c.Admin.Pprof }, true},
		{"LAMEDUCK_TASKS_MAX_RUNNING=10", func(c lameduck.Config) any { return c.Tasks.MaxRunning }, 10},
		{"LAMEDUCK_TASKS_WHEN_FULL=fail", func(c lameduck.Config) any { return c.Tasks.WhenFull }, bgwork.Fail},
		{"LAMEDUCK_TASKS_QUEUE=0", func(c lameduck.Config) any { return c.Tasks.Queue }, 0},
		{"LAMEDUCK_WEBSOCKET_CLOSE_CODE=1012", func(c lameduck.Config) any { return c.WebSocket.CloseCode }, wsmodule.CloseServiceRestart},
		{"LAMEDUCK_WEBSOCKET_CLOSE_REASON=deploy in progress", func(c lameduck.Config) any { return c.WebSocket.CloseReason }, "deploy in progress"},
		{"LAMEDUCK_WEBSOCKET_ALLOWED_ORIGINS=https://a.example.com, https://b.example.com,", func(c lameduck.Config) any { return c.WebSocket.AllowedOrigins },
			[]string{"https://a.example.com", "https://b.example.com"}},
		{"LAMEDUCK_WEBSOCKET_SUBPROTOCOLS=", func(c lameduck.Config) any { return len(c.WebSocket.Subprotocols) }, 0},
		{"LAMEDUCK_SERVERS_PUBLIC_PROTOCOLS=h2c,http1", func(c lameduck.Config) any { return c.Servers["public"].Protocols },
			[]httpmodule.Protocol{httpmodule.H2C, httpmodule.HTTP1}},
		{"LAMEDUCK_SERVERS_PUBLIC_MAX_HEADER_BYTES=1MiB", func(c lameduck.Config) any { return c.Servers["public"].MaxHeaderBytes }, setting.MiB},
		{"LAMEDUCK_SERVERS_PUBLIC_H2_IDLE_GRACE=1s", func(c lameduck.Config) any { return c.Servers["public"].H2IdleGrace }, time.Second},
		{"LAMEDUCK_LOG_FORMAT=console", func(c lameduck.Config) any { return c.Log.Format }, "console"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			cfg, err := lameduck.LoadConfig([]string{tc.env})
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.get(cfg); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEnvBadValues(t *testing.T) {
	for _, tc := range []struct{ env, key, want string }{
		{"LAMEDUCK_STOP_TOTAL=5", "stop.total", `a Go duration such as "5s"`},
		{"LAMEDUCK_STOP_TOTAL=soon", "stop.total", `a Go duration such as "5s"`},
		{"LAMEDUCK_STOP_TOTAL=", "stop.total", `a Go duration`},
		{"LAMEDUCK_WEBSOCKET_READ_LIMIT=1.5MiB", "websocket.readLimit", "bytes or a number with a unit"},
		{"LAMEDUCK_WEBSOCKET_READ_LIMIT=-1", "websocket.readLimit", "bytes or a number with a unit"},
		{"LAMEDUCK_WEBSOCKET_READ_LIMIT=10XB", "websocket.readLimit", "bytes or a number with a unit"},
		{"LAMEDUCK_ADMIN_PPROF=yes", "admin.pprof", "true or false"},
		{"LAMEDUCK_TASKS_MAX_RUNNING=ten", "tasks.maxRunning", "an integer"},
		{"LAMEDUCK_TASKS_MAX_RUNNING=99999999999999999999", "tasks.maxRunning", "an integer"},
		{"LAMEDUCK_WEBSOCKET_CLOSE_CODE=going-away", "websocket.closeCode", "an integer"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			_, err := lameduck.LoadConfig([]string{tc.env})
			p := findProblem(t, err, tc.key)
			name, value, _ := strings.Cut(tc.env, "=")
			if p.Env != name || p.Value != value || !strings.Contains(p.Want, tc.want) {
				t.Errorf("problem = %v; want env %s, value %q and %q", p, name, value, tc.want)
			}
			if n := len(problemsOf(t, err)); n != 1 {
				t.Errorf("%d problems, want 1:\n%v", n, err)
			}
		})
	}
}

func TestFileValues(t *testing.T) {
	cfg, err := lameduck.LoadConfig([]string{writeConfig(t, `
stop:
  preStopDelay: 0        # a bare 0 is a duration, as in LAMEDUCK_STOP_PRE_STOP_DELAY=0
  wait: "2s"
websocket:
  handshakeTimeout: 1m30s
  readLimit: 64KiB
  sendQueue: 8
  allowedOrigins: [https://a.example.com, "*"]
  closeReason: "  spaced  "
  compression: true
servers:
  public:
    maxHeaderBytes: 4096
`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"stop.preStopDelay", cfg.Stop.PreStopDelay, time.Duration(0)},
		{"websocket.handshakeTimeout", cfg.WebSocket.HandshakeTimeout, 90 * time.Second},
		{"stop.wait", cfg.Stop.Wait, 2 * time.Second},
		{"websocket.readLimit", cfg.WebSocket.ReadLimit, 64 * setting.KiB},
		{"websocket.sendQueue", cfg.WebSocket.SendQueue, 8},
		{"websocket.allowedOrigins", cfg.WebSocket.AllowedOrigins, []string{"https://a.example.com", "*"}},
		{"websocket.closeReason", cfg.WebSocket.CloseReason, "  spaced  "},
		{"websocket.compression", cfg.WebSocket.Compression, true},
		{"servers.public.maxHeaderBytes", cfg.Servers["public"].MaxHeaderBytes, setting.ByteSize(4096)},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// A file's bad values are all reported, each with its key, line, value and
// what is allowed, rather than the first one as a YAML type error.
func TestFileBadValues(t *testing.T) {
	_, err := lameduck.LoadConfig([]string{writeConfig(t, `stop:
  total: abc
  shutdown: 5
servers:
  public:
    maxHeaderBytes: lots
    protocols: http1,h2c
log:
  level:
websocket:
  allowedOrigins: [[a]]
`)})
	for _, want := range []struct {
		key, value string
		line       int
		want       string
	}{
		{"stop.total", "abc", 2, "a Go duration"},
		{"stop.shutdown", "5", 3, "a Go duration"},
		{"servers.public.maxHeaderBytes", "lots", 6, "bytes or a number with a unit"},
		{"servers.public.protocols", "http1,h2c", 7, "a YAML list such as [a, b]"},
		{"log.level", "", 9, "remove the key to keep the default"},
		{"websocket.allowedOrigins", "", 11, "a list of plain values"},
	} {
		p := findProblem(t, err, want.key)
		if p.Value != want.value || p.Line != want.line || !strings.Contains(p.Want, want.want) {
			t.Errorf("problem = %v; want value %q at line %d and %q", p, want.value, want.line, want.want)
		}
	}
	if n := len(problemsOf(t, err)); n != 6 {
		t.Errorf("%d problems, want 6:\n%v", n, err)
	}
}

func TestFileStructure(t *testing.T) {
	t.Run("empty and comment-only files change nothing", func(t *testing.T) {
		for _, y := range []string{"", "# nothing yet\n", "---\n", "stop:\n"} {
			cfg, err := lameduck.LoadConfig([]string{writeConfig(t, y)})
			if err != nil || !reflect.DeepEqual(cfg, lameduck.DefaultConfig(nil)) {
				t.Errorf("%q: err=%v, config differs from defaults: %v", y, err, !reflect.DeepEqual(cfg, lameduck.DefaultConfig(nil)))
			}
		}
	})
	t.Run("a second document is an error", func(t *testing.T) {
		_, err := lameduck.LoadConfig([]string{writeConfig(t, "log: {level: debug}\n---\nlog: {level: nonsense}\n")})
		p := problemsOf(t, err)
		if len(p) != 1 || p[0].Line != 2 || !strings.Contains(p[0].Want, "a single YAML document") {
			t.Errorf("problems = %v", p)
		}
	})
	t.Run("a key set twice is an error", func(t *testing.T) {
		_, err := lameduck.LoadConfig([]string{writeConfig(t, "stop:\n  total: 20s\n  total: 22s\n")})
		if p := findProblem(t, err, "stop.total"); p.Line != 3 || !strings.Contains(p.Want, "already set at line 2") {
			t.Errorf("problem = %v", p)
		}
	})
	t.Run("the top level must be a mapping", func(t *testing.T) {
		_, err := lameduck.LoadConfig([]string{writeConfig(t, "hello\n")})
		if p := problemsOf(t, err); len(p) != 1 || p[0].Value != "hello" ||
			!strings.Contains(p[0].Want, "a mapping of sections (stop, servers, admin, websocket, tasks, log)") {
			t.Errorf("problems = %v", p)
		}
	})
	t.Run("a syntax error names the file once", func(t *testing.T) {
		file := writeConfig(t, "stop: [unclosed\n")
		_, err := lameduck.LoadConfig([]string{file})
		if err == nil || config.IsConfigError(err) {
			t.Fatalf("want a YAML syntax error, got %v", err)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "config: ") || strings.Count(msg, "config:") != 1 || !strings.Contains(msg, strings.TrimPrefix(file, config.EnvFile+"=")) {
			t.Errorf("error = %q; want one \"config:\" prefix and the file's path", msg)
		}
	})
	t.Run("a missing file is an error", func(t *testing.T) {
		_, err := lameduck.LoadConfig([]string{config.EnvFile + "=/nonexistent/lameduck.yaml"})
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/lameduck.yaml") || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error = %v", err)
		}
	})
}

func TestFileAnchorsAndMerge(t *testing.T) {
	cfg, err := lameduck.LoadConfig([]string{writeConfig(t, `
servers:
  public: &base
    readTimeout: 30s
    idleTimeout: 1m
  internal:
    <<: *base
    addr: "127.0.0.1:8081"
    idleTimeout: 2m   # overrides the merged value, whatever the order
  debug:
    <<: [{readTimeout: 1s}, *base]
    addr: "127.0.0.1:8082"
`)})
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Servers["internal"]; s.ReadTimeout != 30*time.Second || s.IdleTimeout != 2*time.Minute || s.Addr != "127.0.0.1:8081" {
		t.Errorf("internal = %+v", s)
	}
	// In a list of merged mappings the first one wins.
	if s := cfg.Servers["debug"]; s.ReadTimeout != time.Second || s.IdleTimeout != time.Minute {
		t.Errorf("debug = %+v", s)
	}
	if s := cfg.Servers["public"]; s.ReadTimeout != 30*time.Second || s.Addr != ":8080" {
		t.Errorf("public = %+v", s)
	}
}

func TestFileHostileStructure(t *testing.T) {
	t.Run("merge into itself", func(t *testing.T) {
		_, err := lameduck.LoadConfig([]string{writeConfig(t, "stop: &a\n  total: 20s\n  <<: *a\n")})
		if p := findProblem(t, err, "stop"); !strings.Contains(p.Want, "do not merge a mapping into itself") {
			t.Errorf("problem = %v", p)
		}
	})
	// 4^20 merged mappings: the decoder gives up after a bounded number of
	// steps and says why, instead of expanding them.
	t.Run("exponential merges", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("x0: &x0 {total: 1s, reserve: 1s}\n")
		for i := 1; i <= 20; i++ {
			b.WriteString("x" + strconv.Itoa(i) + ": &x" + strconv.Itoa(i) + " {<<: [")
			for j := range 4 {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString("*x" + strconv.Itoa(i-1))
			}
			b.WriteString("]}\n")
		}
		b.WriteString("stop: {<<: *x20}\n")
		_, err := lameduck.LoadConfig([]string{writeConfig(t, b.String())})
		found := 0
		for _, p := range problemsOf(t, err) {
			if strings.Contains(p.Want, "expand too much") {
				found++
			}
		}
		if found != 1 {
			t.Errorf("%d problems about expansion, want 1, in:\n%.2000v", found, err)
		}
	})
}

// Everything wrong is reported at once: the file's problems, the
// environment's, and every validation problem of the settings that did
// parse.
func TestAllProblemsAtOnce(t *testing.T) {
	t.Run("file and environment", func(t *testing.T) {
		file := writeConfig(t, "stop:\n  totl: 5s\nlog:\n  level: trace\n")
		_, err := lameduck.LoadConfig([]string{
			file,
			"LAMEDUCK_STOP_SHUTDOWN=soon",
			"LAMEDUCK_LOG_FORMAT=text", // valid syntax, but not a format
			"LAMEDUCK_NOPE=1",
		})
		got := problemsOf(t, err)
		if len(got) != 5 {
			t.Fatalf("%d problems, want 5 (file key, bad duration, unknown variable, level and format):\n%v", len(got), err)
		}
		for _, key := range []string{"stop.totl", "stop.shutdown", "LAMEDUCK_NOPE", "log.level", "log.format"} {
			findProblem(t, err, key)
		}
	})
	t.Run("a file with a problem still adds its servers", func(t *testing.T) {
		_, err := lameduck.LoadConfig([]string{
			writeConfig(t, "servers: {internal: {addr: ':8081'}}\nlog: {levl: debug}\n"),
			"LAMEDUCK_SERVERS_INTERNAL_ADDR=:8082", // valid: the file adds internal
		})
		if got := problemsOf(t, err); len(got) != 1 || got[0].Key != "log.levl" {
			t.Errorf("problems = %v, want only log.levl", got)
		}
	})
	t.Run("validation", func(t *testing.T) {
		_, err := lameduck.LoadConfig([]string{
			"LAMEDUCK_LOG_LEVEL=trace",
			"LAMEDUCK_TASKS_WHEN_FULL=block",
			"LAMEDUCK_WEBSOCKET_SEND_QUEUE=0",
			"LAMEDUCK_SERVERS_PUBLIC_PROTOCOLS=http2",
		})
		if n := len(problemsOf(t, err)); n != 4 {
			t.Errorf("%d problems, want 4:\n%v", n, err)
		}
		for _, want := range []string{
			`log.level (LAMEDUCK_LOG_LEVEL) = "trace": want "debug", "info", "warn" or "error"`,
			`tasks.whenFull (LAMEDUCK_TASKS_WHEN_FULL) = "block": want "wait" or "fail"`,
			`websocket.sendQueue (LAMEDUCK_WEBSOCKET_SEND_QUEUE) = "0": want an integer from 1 to 1048576`,
			`servers.public.protocols (LAMEDUCK_SERVERS_PUBLIC_PROTOCOLS) = "http2": want one or both of "http1" and "h2c"`,
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not contain %q:\n%v", want, err)
			}
		}
		if !strings.HasPrefix(err.Error(), "config: 4 invalid settings\n  - ") {
			t.Errorf("error does not start with a count:\n%v", err)
		}
	})
	// The admin address's clash with a server is a rule across sections:
	// it is checked once every section is valid on its own.
	t.Run("rules across sections wait for valid sections", func(t *testing.T) {
		_, err := lameduck.LoadConfig([]string{"LAMEDUCK_ADMIN_ADDR=:8080", "LAMEDUCK_LOG_LEVEL=trace"})
		if got := problemsOf(t, err); len(got) != 1 || got[0].Key != "log.level" {
			t.Errorf("problems = %v, want only log.level's", got)
		}
		_, err = lameduck.LoadConfig([]string{"LAMEDUCK_ADMIN_ADDR=:8080"})
		if got := problemsOf(t, err); len(got) != 1 || got[0].String() !=
			`admin.addr (LAMEDUCK_ADMIN_ADDR) = ":8080": want an address not already used by servers.public.addr` {
			t.Errorf("problems = %v, want the clash with servers.public.addr", got)
		}
	})
}

// A rejected file or environment yields no half-loaded config: LoadConfig
// returns the zero Config with its error, and later loads start from the
// defaults again.
func TestRejectedLoadReturnsNothing(t *testing.T) {
	cfg, err := lameduck.LoadConfig([]string{
		writeConfig(t, "stop: {total: 20s}\nservers: {public: {addr: ':1', protocols: [h2c]}}\nlog: {levl: x}\n"),
		"LAMEDUCK_STOP_TOTAL=21s", "LAMEDUCK_SERVERS_PUBLIC_PROTOCOLS=h2c", "LAMEDUCK_NOPE=1",
	})
	if err == nil {
		t.Fatal("want an error")
	}
	if !reflect.DeepEqual(cfg, lameduck.Config{}) {
		t.Errorf("LoadConfig returned %+v with its error, want the zero Config", cfg)
	}
	again, err := lameduck.LoadConfig(nil)
	if err != nil || !reflect.DeepEqual(again, lameduck.DefaultConfig(nil)) {
		t.Errorf("a later LoadConfig = %+v, %v; want the defaults", again, err)
	}
}

// roundTripConfig differs from the defaults in a setting of every type of
// every section, and validates.
func roundTripConfig() lameduck.Config {
	cfg := lameduck.DefaultConfig(nil)
	cfg.Stop.Total, cfg.Stop.PreStopDelay, cfg.Stop.GracePeriod = 40*time.Second, 1500*time.Millisecond, time.Minute
	pub := cfg.Servers["public"]
	pub.Addr, pub.Protocols, pub.MaxHeaderBytes, pub.MaxConns = "127.0.0.1:0", []httpmodule.Protocol{httpmodule.H2C}, 1500, 7
	cfg.Servers["public"] = pub
	cfg.Admin.Pprof, cfg.Admin.Addr = true, "[::1]:9091"
	ws := &cfg.WebSocket
	ws.AllowedOrigins, ws.Subprotocols = []string{"https://a.example.com", "*"}, []string{"v2", "v1"}
	ws.ReadLimit, ws.Compression, ws.CloseCode, ws.CloseReason = 3*setting.MiB, true, wsmodule.CloseServiceRestart, "deploy in progress"
	ws.CloseSpread = 2 * time.Second
	cfg.Tasks.WhenFull, cfg.Tasks.TaskTimeout = bgwork.Fail, time.Minute
	cfg.Log.Level, cfg.Log.Format = "debug", "console"
	return cfg
}

// Every key can be set through its environment variable, and the rendering
// config.Keys gives as its value parses back to the same value: what the
// README table shows can be pasted into the environment.
func TestKeysRoundTrip(t *testing.T) {
	defaults := keyMap(lameduck.DefaultConfig(nil))
	changed := map[string]bool{}
	for path, v := range keyMap(roundTripConfig()) {
		if defaults[path] != v {
			changed[strings.SplitN(path, ".", 2)[0]] = true
		}
	}
	if len(changed) != 6 {
		t.Fatalf("roundTripConfig changes settings of %v; want every section", changed)
	}
	for _, want := range []lameduck.Config{lameduck.DefaultConfig([]string{inKubernetes}), roundTripConfig()} {
		if err := want.Validate(); err != nil {
			t.Fatal(err)
		}
		var environ []string
		seen := map[string]bool{}
		for _, k := range config.Keys(want.Sections()...) {
			if seen[k.Env] {
				t.Errorf("two keys share %s", k.Env)
			}
			seen[k.Env] = true
			environ = append(environ, k.Env+"="+k.Default)
		}
		got, err := lameduck.LoadConfig(environ)
		if err != nil {
			t.Fatalf("every key set from its rendering: %v", err)
		}
		// An empty list comes back empty rather than nil: compare what
		// the keys render.
		if g, w := keyMap(got), keyMap(want); !reflect.DeepEqual(g, w) {
			t.Errorf("round trip through the environment changed the config:\n got %v\nwant %v", g, w)
		}
	}
}

func keyMap(c lameduck.Config) map[string]string {
	m := map[string]string{}
	for _, k := range config.Keys(c.Sections()...) {
		m[k.Path] = k.Default
	}
	return m
}

// Keys and Validate only read: modules share one Config (and its Servers
// map), and apps built in parallel from one Config validate it at once.
// Run with -race.
func TestKeysAndValidateAreReadOnly(t *testing.T) {
	cfg := lameduck.DefaultConfig(nil)
	cfg.Servers["internal"] = httpmodule.DefaultServerSettings(":8081")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if n := len(config.Keys(cfg.Sections()...)); n == 0 {
					t.Error("no keys")
				}
				if err := cfg.Validate(); err != nil {
					t.Error(err)
				}
				_ = cfg.Servers["public"].Addr
			}
		})
	}
	wg.Wait()
}
