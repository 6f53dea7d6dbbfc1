package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the name of every environment variable lameduck reads.
const EnvPrefix = "LAMEDUCK_"

// EnvFile names the environment variable that holds the path of the optional
// YAML config file.
const EnvFile = "LAMEDUCK_CONFIG"

// reservedEnv are LAMEDUCK_* variables that are not settings: the config file
// path and the knobs of lameduck's own test and benchmark suites.
var reservedEnv = []string{EnvFile, "LAMEDUCK_E2E"}

// reservedEnvPrefixes start LAMEDUCK_* variables kept for lameduck's own test
// and benchmark suites (LAMEDUCK_E2E_SCALE, LAMEDUCK_BENCH_QUICK, ...).
var reservedEnvPrefixes = []string{"LAMEDUCK_E2E_", "LAMEDUCK_BENCH_"}

// Load builds the configuration from the built-in defaults, the YAML file
// named by LAMEDUCK_CONFIG (if set) and the LAMEDUCK_* variables of environ
// (os.Environ form), later sources winning, and validates it. The error lists
// every problem found, with its key, value and what is allowed: those of the
// file and of the environment together, then, once both are clean, those of
// validation.
func Load(environ []string) (Config, error) {
	cfg := Default(environ)
	var problems []Problem
	if path, ok := lookup(environ, EnvFile); ok && path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: read %s (from %s): %w", path, EnvFile, err)
		}
		cfg, err = cfg.overlayYAML(data)
		var e *Error
		switch {
		case errors.As(err, &e):
			for _, p := range e.Problems {
				p.File = path
				problems = append(problems, p)
			}
		case err != nil:
			return Config{}, fmt.Errorf("config: %s (from %s): %w", path, EnvFile, err)
		}
	}
	if err := cfg.ApplyEnv(environ); err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return Config{}, err
		}
		problems = append(problems, e.Problems...)
	}
	if len(problems) > 0 {
		return Config{}, &Error{Problems: problems}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// LoadProcess is Load with the environment of the current process.
func LoadProcess() (Config, error) { return Load(os.Environ()) }

// DecodeYAML overlays the settings of a YAML document on c. Keys that the
// document does not mention keep their value; a server that the document adds
// starts from [DefaultServer]; a server set to null is removed. Values are
// written as in environment variables ("5s", "0", "64KiB"); lists are YAML
// lists. Every problem is reported at once: unknown keys (with their line and,
// when one is close, the key that was probably meant), bad values, keys set
// twice, a second document. On error c is left unchanged.
func (c *Config) DecodeYAML(data []byte) error {
	next, err := c.overlayYAML(data)
	if err != nil {
		if !IsConfigError(err) {
			err = fmt.Errorf("config: %w", err)
		}
		return err
	}
	*c = next
	return nil
}

// UnmarshalYAML merges a mapping of server names into s: existing servers
// keep what the mapping does not set, new servers start from
// [DefaultServer], and a server mapped to null is removed.
func (s *Servers) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return nil
		}
		return fmt.Errorf("line %d: servers: want a mapping of server names to settings", n.Line)
	}
	if *s == nil {
		*s = Servers{}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, val := n.Content[i].Value, n.Content[i+1]
		if val.Tag == "!!null" {
			delete(*s, name)
			continue
		}
		srv, ok := (*s)[name]
		if !ok {
			srv = DefaultServer("")
		}
		if err := val.Decode(&srv); err != nil {
			return err
		}
		(*s)[name] = srv
	}
	return nil
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	serversType  = reflect.TypeOf(Servers{})
	serverType   = reflect.TypeOf(Server{})
)

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); yamlName(f) == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tagsOf(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		out = append(out, yamlName(t.Field(i)))
	}
	return out
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func validServerName(name string) bool {
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// Key describes one setting: its path in the YAML file, its environment
// variable and its type.
type Key struct {
	// Path is the dotted YAML path, e.g. "stop.total" or
	// "servers.public.addr".
	Path string
	// Env is the environment variable, e.g. "LAMEDUCK_STOP_TOTAL".
	Env string
	// Type names the kind of value: duration, size, int, bool, string,
	// list.
	Type string
	// Default is the value in c, rendered as it would be written in an
	// environment variable.
	Default string
}

// Keys lists every setting of c, servers included, in a stable order.
func (c *Config) Keys() []Key {
	var keys []Key
	walk(reflect.ValueOf(c).Elem(), nil, false, func(path []string, v reflect.Value) {
		keys = append(keys, Key{
			Path:    strings.Join(path, "."),
			Env:     envName(path),
			Type:    typeName(v.Type()),
			Default: render(v),
		})
	})
	return keys
}

// walk calls fn for every leaf setting under v. Servers are walked through
// addressable copies; with set, they are written back after fn, so fn may set
// them. Without set the map is only read, so that readers of a shared config
// (Keys) never race.
func walk(v reflect.Value, path []string, set bool, fn func([]string, reflect.Value)) {
	t := v.Type()
	switch {
	case t == serversType:
		names := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			names = append(names, k.String())
		}
		sort.Strings(names)
		for _, name := range names {
			srv := reflect.New(serverType).Elem()
			srv.Set(v.MapIndex(reflect.ValueOf(name)))
			walk(srv, append(slices.Clip(path), name), set, fn)
			if set {
				v.SetMapIndex(reflect.ValueOf(name), srv)
			}
		}
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			walk(v.Field(i), append(slices.Clip(path), yamlName(t.Field(i))), set, fn)
		}
	default:
		fn(path, v)
	}
}

// envName turns ["servers","public","readHeaderTimeout"] into
// LAMEDUCK_SERVERS_PUBLIC_READ_HEADER_TIMEOUT.
func envName(path []string) string {
	var b strings.Builder
	b.WriteString(EnvPrefix)
	for i, p := range path {
		if i > 0 {
			b.WriteByte('_')
		}
		for j, r := range p {
			if j > 0 && unicode.IsUpper(r) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t == reflect.TypeOf(ByteSize(0)):
		return "size"
	case t.Kind() == reflect.Slice:
		return "list"
	}
	return t.Kind().String()
}

func render(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case time.Duration:
		return x.String()
	case ByteSize:
		return x.String()
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// setString parses s into the setting v.
func setString(v reflect.Value, s string) error {
	s = strings.TrimSpace(s)
	switch v.Type() {
	case durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a Go duration such as \"5s\" or \"250ms\"")
		}
		v.SetInt(int64(d))
		return nil
	case reflect.TypeOf(ByteSize(0)):
		b, err := ParseByteSize(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(b))
		return nil
	}
	switch v.Kind() {
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v.OverflowInt(n) {
			return fmt.Errorf("want an integer")
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v.OverflowUint(n) {
			return fmt.Errorf("want a non-negative integer")
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || v.OverflowFloat(f) {
			return fmt.Errorf("want a number")
		}
		v.SetFloat(f)
	case reflect.String:
		v.SetString(s)
	case reflect.Slice:
		var items []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		out := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, item := range items {
			if err := setString(out.Index(i), item); err != nil {
				return fmt.Errorf("list item %q: %w", item, err)
			}
		}
		v.Set(out)
	default:
		if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
			return u.UnmarshalText([]byte(s))
		}
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// ApplyEnv overlays the LAMEDUCK_* variables of environ (os.Environ form) on
// c. Every LAMEDUCK_* variable must name a setting of c (servers are those of
// the defaults and the file: add new servers in the file); LAMEDUCK_CONFIG
// and the LAMEDUCK_E2E* and LAMEDUCK_BENCH_* knobs of lameduck's own suites
// are the only others allowed. All problems are reported at once.
func (c *Config) ApplyEnv(environ []string) error {
	vals := map[string]string{}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || reservedName(name) {
			continue
		}
		if _, dup := vals[name]; !dup { // getenv sees the first of repeated names
			vals[name] = val
		}
	}
	var problems []Problem
	var known []string
	next := c.clone() // c stays as it was if any variable is bad
	walk(reflect.ValueOf(&next).Elem(), nil, true, func(path []string, v reflect.Value) {
		name := envName(path)
		known = append(known, name)
		s, ok := vals[name]
		if !ok {
			return
		}
		delete(vals, name)
		if err := setString(v, s); err != nil {
			problems = append(problems, Problem{Key: strings.Join(path, "."), Env: name, Value: s, Want: err.Error()})
		}
	})
	for name, val := range vals {
		problems = append(problems, Problem{Env: name, Value: val, Want: unknownEnvWant(name, known)})
	}
	if len(problems) > 0 {
		sort.Slice(problems, func(i, j int) bool { return problems[i].Env < problems[j].Env })
		return &Error{Problems: problems}
	}
	*c = next
	return nil
}

// unknownEnvWant says what to do about the unknown variable name, given the
// known ones.
func unknownEnvWant(name string, known []string) string {
	if rest, ok := strings.CutPrefix(name, EnvPrefix+"SERVERS_"); ok {
		server, setting, _ := strings.Cut(rest, "_")
		for i := range serverType.NumField() {
			if envName([]string{yamlName(serverType.Field(i))}) == EnvPrefix+setting {
				return fmt.Sprintf("a variable of a configured server: there is no server %q; "+
					"add it under servers: in the config file (LAMEDUCK_CONFIG) to set %sSERVERS_%s_*",
					strings.ToLower(server), EnvPrefix, server)
			}
		}
	}
	short := make([]string, len(known))
	for i, k := range known {
		short[i] = strings.TrimPrefix(k, EnvPrefix)
	}
	if s := suggest(strings.TrimPrefix(name, EnvPrefix), short); s != "" {
		return fmt.Sprintf("a known LAMEDUCK_* variable (did you mean %s%s?)", EnvPrefix, s)
	}
	return "a known LAMEDUCK_* variable (see the README's config table; servers are added in the config file)"
}

func reservedName(name string) bool {
	if slices.Contains(reservedEnv, name) {
		return true
	}
	for _, p := range reservedEnvPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func lookup(environ []string, name string) (string, bool) {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// suggest returns the candidate closest to s if it is close enough to be a
// likely typo.
func suggest(s string, candidates []string) string {
	best, bestDist := "", len(s)/3+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Problem is one bad setting.
type Problem struct {
	// Key is the dotted YAML path of the setting, if known.
	Key string
	// Env is the environment variable involved, if any.
	Env string
	// Value is the bad value as given.
	Value string
	// File is the config file the problem is in, if it is in one.
	File string
	// Line is the line in the config file, if the problem is there.
	Line int
	// Want says what is allowed or what to change.
	Want string
}

// String renders the problem on one line: where it is (key, variable, file
// and line), the bad value, and what is allowed.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.Key != "" && p.Env != "":
		fmt.Fprintf(&b, "%s (%s)", p.Key, p.Env)
	case p.Key != "":
		b.WriteString(p.Key)
	case p.Env != "":
		b.WriteString(p.Env)
	default:
		b.WriteString("config file")
	}
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, " at %s:%d", p.File, p.Line)
	case p.File != "":
		fmt.Fprintf(&b, " in %s", p.File)
	case p.Line > 0:
		fmt.Fprintf(&b, " at line %d", p.Line)
	}
	if p.Value != "" {
		fmt.Fprintf(&b, " = %q", p.Value)
	}
	fmt.Fprintf(&b, ": want %s", p.Want)
	return b.String()
}

// Error lists every problem found while loading or validating a
// configuration.
type Error struct {
	// Problems are every bad setting found, in a stable order.
	Problems []Problem
}

// Error renders the count of problems, then one problem per line.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config: %d invalid setting", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteByte('s')
	}
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// IsConfigError reports whether err comes from loading or validating a
// configuration.
func IsConfigError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
