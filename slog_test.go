package lameduck_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/lifecycle"
)

// syncBuffer is a buffer that handlers on several goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// With WithSlog, the stop's entries reach a slog handler with the same
// structure as zap writes them: the report as the group "stop" with its
// phases in order, and one line per phase. LogFxEvents adds Fx's events at
// debug level.
func TestWithSlogLogsTheStop(t *testing.T) {
	var buf syncBuffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	app := fx.New(
		lameduck.WithConfig(testConfig(fastStop())),
		lameduck.IgnoreSignals,
		lameduck.WithSlog(l),
		lameduck.LogFxEvents,
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	var phases []string
	var report map[string]any
	fxEvents := 0
	for _, m := range buf.lines(t) {
		switch {
		case m["msg"] == "stop phase ended":
			if m["logger"] != "lameduck" || m["level"] != "INFO" || m["outcome"] != "completed" {
				t.Errorf("phase line %v", m)
			}
			phases = append(phases, m["phase"].(string))
		case m["msg"] == "stop ended":
			report, _ = m["stop"].(map[string]any)
		case m["logger"] == "fx":
			fxEvents++
			if m["level"] != "DEBUG" {
				t.Errorf("Fx event %v: want debug level", m)
			}
		}
	}
	var want []string
	for _, p := range lifecycle.Phases() {
		want = append(want, p.String())
	}
	if strings.Join(phases, ",") != strings.Join(want, ",") {
		t.Errorf("phase lines %v, want %v", phases, want)
	}
	if report == nil {
		t.Fatal(`no "stop ended" entry with a "stop" group`)
	}
	if report["trigger"] != lifecycle.TriggerFxStop || report["clean"] != true {
		t.Errorf("stop group %v", report)
	}
	ps, _ := report["phases"].([]any)
	if len(ps) != len(want) {
		t.Fatalf("stop.phases = %v, want %d phases", report["phases"], len(want))
	}
	for i, p := range ps {
		obj, _ := p.(map[string]any)
		if obj["phase"] != want[i] || obj["outcome"] != "completed" {
			t.Errorf("stop.phases[%d] = %v", i, p)
		}
		if _, err := time.ParseDuration(obj["duration"].(string)); err != nil {
			t.Errorf("stop.phases[%d].duration = %v: %v", i, obj["duration"], err)
		}
	}
	if fxEvents == 0 {
		t.Error("LogFxEvents: no Fx event logged")
	}
}

// The core keeps zap's field order inside objects, nests namespaces and
// writes arrays of objects in order.
func TestSlogCoreFields(t *testing.T) {
	var buf syncBuffer
	log := zap.New(lameduck.NewSlogCore(slog.NewJSONHandler(&buf, nil))).Named("test").With(zap.String("server", "public"))
	log.Debug("not at info")
	log.Warn("cut", zap.Strings("cut", []string{"a", "b"}), zap.Namespace("detail"), zap.Int("n", 2), zap.Duration("age", 1500*time.Millisecond))
	lines := buf.lines(t)
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1 (debug is below the handler's level): %v", len(lines), lines)
	}
	m := lines[0]
	detail, _ := m["detail"].(map[string]any)
	if m["msg"] != "cut" || m["level"] != "WARN" || m["logger"] != "test" || m["server"] != "public" ||
		len(m["cut"].([]any)) != 2 || detail["n"] != 2.0 || detail["age"] != 1.5e9 {
		t.Errorf("line %v", m)
	}
}
