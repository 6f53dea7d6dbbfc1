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
// variable. Load must not panic; what it accepts must load the same way
// twice and survive a round trip through the environment (every setting
// written as LAMEDUCK_* gives the same settings back); what it rejects must
// say so as a config error whose every problem names a key, variable or line
// and what is allowed.
//
//	go test -fuzz=FuzzLoad -fuzztime=60s ./config
func FuzzLoad(f *testing.F) {
	for _, seed := range []struct{ yaml, key, val string }{
		{"", "LAMEDUCK_BUDGET_TOTAL", "20s"},
		{"budget:\n  total: 30s\n  reserve: 15s\n", "LAMEDUCK_BUDGET_VERBOSE", "true"},
		{"endpoints:\n  public: null\n  internal:\n    addr: 127.0.0.1:0\n    protocols: [h2c]\n", "LAMEDUCK_ENDPOINTS_INTERNAL_LIMIT", "10"},
		{"endpoints:\n  public: &b {timeout: 1s}\n  api: {<<: *b, addr: ':8081'}\n", "LAMEDUCK_ENDPOINTS_API_PROTOCOLS", "a, b"},
		{"budget:\n  totl: 5s\n", "LAMEDUCK_BUDGET_TOTL", "5s"},
		{"a: &a [*a]\n", "LAMEDUCK_PROBE_EVERY", "1h"},
		{"budget: &s {<<: *s}\n", "LAMEDUCK_ENDPOINTS_PUBLIC_LIMIT", "1GB"},
		{"--- \n---\n", "LAMEDUCK_BUDGET_RESERVE", "-1s"},
		{"endpoints: {public: {limit: 9223372036854775807}}\n", "LAMEDUCK_ENDPOINTS_PUBLIC_LIMIT", "9223372036854775807"},
	} {
		f.Add([]byte(seed.yaml), seed.key, seed.val)
	}
	f.Fuzz(func(t *testing.T, data []byte, key, val string) {
		path := filepath.Join(t.TempDir(), "lameduck.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		environ := []string{EnvFile + "=" + path, key + "=" + val}
		c, err := load(t, environ...)
		c2, err2 := load(t, environ...)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() || !reflect.DeepEqual(c, c2) {
			t.Fatalf("Load is not deterministic:\n%v\n%v", err, err2)
		}
		if err != nil {
			checkRejection(t, err)
			return
		}
		if representable(c) {
			checkEnvRoundTrip(t, c)
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
		if p.Want == "" || p.Key == "" && p.Env == "" && p.Line == 0 || strings.HasPrefix(p.Want, "want ") {
			t.Fatalf("problem says neither where nor what is allowed, or says want twice: %#v", p)
		}
	}
}

// representable reports whether every setting can be written in an
// environment variable: strings without surrounding space (values are
// trimmed) and list items without commas (the separator).
func representable(c *testConfig) bool {
	ok := true
	for _, s := range c.sections() {
		walk(reflect.ValueOf(s.Value).Elem(), nil, false, func(_ []string, v reflect.Value, _ reflect.Type, _ reflect.StructField) {
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
	}
	return ok
}

// checkEnvRoundTrip writes every setting of c as its environment variable,
// loads them onto settings with c's entries and nothing else, and wants c
// back.
func checkEnvRoundTrip(t *testing.T, c *testConfig) {
	var environ []string
	for _, k := range Keys(c.sections()...) {
		environ = append(environ, k.Env+"="+k.Default)
	}
	back := &testConfig{endpoints: endpoints{}}
	for name := range c.endpoints {
		back.endpoints[name] = endpoint{}
	}
	if err := Load(environ, back.sections()...); err != nil {
		t.Fatalf("the environment rendering of accepted settings is rejected: %v", err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip through the environment changed the settings:\n got %+v\nwant %+v", back, c)
	}
}
