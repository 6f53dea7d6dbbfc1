package lameduck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// WithSlog makes every lameduck module log through l instead of the zap
// logger of the "log" section: the same entries (the stop's report as one
// entry, "stop ended", with the whole report as the group "stop"; one
// "stop phase ended" line per phase; the servers', hubs' and pool's lines),
// with the same fields, as slog records. l's handler decides the level and
// the format; the "log" section is then unused. Pass it after lameduck's
// options:
//
//	lameduck.Run(lameduck.WithSlog(slog.Default()), fx.Provide(...))
//
// The *zap.Logger that modules inject writes to l too (see [NewSlogCore]).
func WithSlog(l *slog.Logger) fx.Option {
	return fx.Decorate(func(*zap.Logger) *zap.Logger { return zap.New(NewSlogCore(l.Handler())) })
}

// LogFxEvents makes Fx log its own events (provides, invokes, hooks and
// their durations) through the application's logger, at debug level, and
// its errors at error level: quiet at the default info level, there when
// the level is debug. By default Fx's events are not logged (Fx returns
// its errors, and [Run] prints them). Pass it after lameduck's options.
var LogFxEvents = fx.WithLogger(func(l *zap.Logger) fxevent.Logger {
	fl := &fxevent.ZapLogger{Logger: l.Named("fx")}
	fl.UseLogLevel(zapcore.DebugLevel)
	fl.UseErrorLevel(zapcore.ErrorLevel)
	return fl
})

// NewSlogCore returns a zapcore.Core that writes zap's entries to h, for
// zap.New: the message, the level (zap's DPanic, Panic and Fatal as
// slog.LevelError+4), the time, the logger's name as the attribute
// "logger", the fields as attributes (objects as groups, in order) and the
// stack trace, if any, as "stacktrace". Arrays are values the handler
// marshals: JSON with their objects' fields in order and durations as Go
// writes them ("250ms"); text with fmt.
func NewSlogCore(h slog.Handler) zapcore.Core { return slogCore{h: h} }

type slogCore struct{ h slog.Handler }

func (c slogCore) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), slogLevel(l))
}

func (c slogCore) With(fields []zapcore.Field) zapcore.Core {
	return slogCore{h: c.h.WithAttrs(fieldAttrs(fields))}
}

func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, slogLevel(e.Level), e.Message, 0)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(fieldAttrs(fields)...)
	if e.Stack != "" {
		r.AddAttrs(slog.String("stacktrace", e.Stack))
	}
	return c.h.Handle(context.Background(), r)
}

func (slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	case l == zapcore.ErrorLevel:
		return slog.LevelError
	}
	return slog.LevelError + 4
}

func fieldAttrs(fields []zapcore.Field) []slog.Attr {
	enc := &attrEncoder{}
	for _, f := range fields {
		f.AddTo(enc)
	}
	return enc.finish()
}

// attrEncoder is a zapcore.ObjectEncoder that collects slog attributes in
// the order zap adds them.
type attrEncoder struct {
	attrs []slog.Attr
	ns    []namespace // open namespaces
}

type namespace struct {
	key   string
	start int // index in attrs of its first attribute
}

// finish closes the open namespaces, as groups, and returns the attributes.
func (e *attrEncoder) finish() []slog.Attr {
	for i := len(e.ns) - 1; i >= 0; i-- {
		n := e.ns[i]
		group := slog.Attr{Key: n.key, Value: slog.GroupValue(slices.Clone(e.attrs[n.start:])...)}
		e.attrs = append(e.attrs[:n.start:n.start], group)
	}
	e.ns = nil
	return e.attrs
}

func (e *attrEncoder) add(a slog.Attr) { e.attrs = append(e.attrs, a) }

func (e *attrEncoder) AddArray(key string, m zapcore.ArrayMarshaler) error {
	a := &arrayEncoder{}
	err := m.MarshalLogArray(a)
	e.add(slog.Any(key, a.elems))
	return err
}

func (e *attrEncoder) AddObject(key string, m zapcore.ObjectMarshaler) error {
	o := &attrEncoder{}
	err := m.MarshalLogObject(o)
	e.add(slog.Attr{Key: key, Value: slog.GroupValue(o.finish()...)})
	return err
}

func (e *attrEncoder) AddBinary(key string, v []byte)          { e.add(slog.Any(key, v)) }
func (e *attrEncoder) AddByteString(key string, v []byte)      { e.add(slog.String(key, string(v))) }
func (e *attrEncoder) AddBool(key string, v bool)              { e.add(slog.Bool(key, v)) }
func (e *attrEncoder) AddComplex128(key string, v complex128)  { e.add(slog.String(key, fmt.Sprint(v))) }
func (e *attrEncoder) AddComplex64(key string, v complex64)    { e.add(slog.String(key, fmt.Sprint(v))) }
func (e *attrEncoder) AddDuration(key string, v time.Duration) { e.add(slog.Duration(key, v)) }
func (e *attrEncoder) AddFloat64(key string, v float64)        { e.add(slog.Float64(key, v)) }
func (e *attrEncoder) AddFloat32(key string, v float32)        { e.add(slog.Float64(key, float64(v))) }
func (e *attrEncoder) AddInt(key string, v int)                { e.add(slog.Int(key, v)) }
func (e *attrEncoder) AddInt64(key string, v int64)            { e.add(slog.Int64(key, v)) }
func (e *attrEncoder) AddInt32(key string, v int32)            { e.add(slog.Int64(key, int64(v))) }
func (e *attrEncoder) AddInt16(key string, v int16)            { e.add(slog.Int64(key, int64(v))) }
func (e *attrEncoder) AddInt8(key string, v int8)              { e.add(slog.Int64(key, int64(v))) }
func (e *attrEncoder) AddString(key, v string)                 { e.add(slog.String(key, v)) }
func (e *attrEncoder) AddTime(key string, v time.Time)         { e.add(slog.Time(key, v)) }
func (e *attrEncoder) AddUint(key string, v uint)              { e.add(slog.Uint64(key, uint64(v))) }
func (e *attrEncoder) AddUint64(key string, v uint64)          { e.add(slog.Uint64(key, v)) }
func (e *attrEncoder) AddUint32(key string, v uint32)          { e.add(slog.Uint64(key, uint64(v))) }
func (e *attrEncoder) AddUint16(key string, v uint16)          { e.add(slog.Uint64(key, uint64(v))) }
func (e *attrEncoder) AddUint8(key string, v uint8)            { e.add(slog.Uint64(key, uint64(v))) }
func (e *attrEncoder) AddUintptr(key string, v uintptr)        { e.add(slog.Uint64(key, uint64(v))) }
func (e *attrEncoder) AddReflected(key string, v any) error    { e.add(slog.Any(key, v)); return nil }
func (e *attrEncoder) OpenNamespace(key string) {
	e.ns = append(e.ns, namespace{key: key, start: len(e.attrs)})
}

// arrayEncoder is a zapcore.ArrayEncoder that collects an array's
// elements; objects become logObjects.
type arrayEncoder struct{ elems []any }

func (a *arrayEncoder) AppendArray(m zapcore.ArrayMarshaler) error {
	inner := &arrayEncoder{}
	err := m.MarshalLogArray(inner)
	a.elems = append(a.elems, inner.elems)
	return err
}

func (a *arrayEncoder) AppendObject(m zapcore.ObjectMarshaler) error {
	o := &attrEncoder{}
	err := m.MarshalLogObject(o)
	a.elems = append(a.elems, logObject(o.finish()))
	return err
}

func (a *arrayEncoder) AppendReflected(v any) error    { a.elems = append(a.elems, v); return nil }
func (a *arrayEncoder) AppendBool(v bool)              { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendByteString(v []byte)      { a.elems = append(a.elems, string(v)) }
func (a *arrayEncoder) AppendComplex128(v complex128)  { a.elems = append(a.elems, fmt.Sprint(v)) }
func (a *arrayEncoder) AppendComplex64(v complex64)    { a.elems = append(a.elems, fmt.Sprint(v)) }
func (a *arrayEncoder) AppendFloat64(v float64)        { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendFloat32(v float32)        { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendInt(v int)                { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendInt64(v int64)            { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendInt32(v int32)            { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendInt16(v int16)            { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendInt8(v int8)              { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendString(v string)          { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendUint(v uint)              { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendUint64(v uint64)          { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendUint32(v uint32)          { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendUint16(v uint16)          { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendUint8(v uint8)            { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendUintptr(v uintptr)        { a.elems = append(a.elems, v) }
func (a *arrayEncoder) AppendDuration(v time.Duration) { a.elems = append(a.elems, v.String()) }
func (a *arrayEncoder) AppendTime(v time.Time)         { a.elems = append(a.elems, v) }

// logObject is an object inside an array: its fields in order. It
// marshals to JSON in that order, and prints as {key=value ...}.
type logObject []slog.Attr

func (o logObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, a := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(a.Key)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(jsonValue(a.Value))
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o logObject) String() string {
	parts := make([]string, len(o))
	for i, a := range o {
		parts[i] = a.String()
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// jsonValue is what a slog value marshals as inside a logObject.
func jsonValue(v slog.Value) any {
	switch v.Kind() {
	case slog.KindGroup:
		return logObject(v.Group())
	case slog.KindDuration:
		return v.Duration().String()
	case slog.KindTime:
		return v.Time().Format(time.RFC3339Nano)
	case slog.KindFloat64:
		if f := v.Float64(); math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Sprint(f)
		}
	}
	return v.Any()
}
