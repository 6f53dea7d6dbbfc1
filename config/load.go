package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/lameduck/lameduck/setting"
)

// EnvPrefix starts the name of every environment variable lameduck reads.
const EnvPrefix = "LAMEDUCK_"

// EnvFile names the environment variable that holds the path of the optional
// YAML config file. It is the one LAMEDUCK_* variable that is not a setting.
const EnvFile = "LAMEDUCK_CONFIG"

// Section is one top-level key of the configuration and the settings under
// it, which a module owns: Key is "stop", "servers", ...; Value points to
// the module's settings struct (or a map of named settings structs) and holds
// the values to start from, its defaults. [Load] overwrites it.
type Section struct {
	Key   string
	Value any
}

// Validator is implemented by settings that check themselves: Validate
// returns nil, or an error listing every problem, ideally a
// [*setting.Error] whose keys are relative to the section.
type Validator interface {
	Validate() error
}

// CrossValidator is implemented by settings whose rules involve another
// section: ValidateWith gets every section's Value by key. It runs once
// every section is valid on its own.
type CrossValidator interface {
	ValidateWith(sections map[string]any) error
}

// Load overlays, on each section's value, the settings of the YAML file named
// by LAMEDUCK_CONFIG in environ (os.Environ form) and then the LAMEDUCK_*
// variables of environ, and validates every section. The error, a [*Error],
// lists every problem at once: unknown keys and variables (with the likely
// intended one), values that do not parse, and the problems of validation,
// each with its key, variable, value and what is allowed. Values that parse
// are applied even when others do not, so that validation checks what the
// file and environment meant.
func Load(environ []string, sections ...Section) error {
	if err := checkSections(sections); err != nil {
		return err
	}
	var problems []Problem
	if path, ok := lookup(environ, EnvFile); ok && path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: read %s (from %s): %w", path, EnvFile, err)
		}
		fileProblems, err := overlayYAML(data, sections)
		if err != nil {
			return fmt.Errorf("config: %s (from %s): %w", path, EnvFile, err)
		}
		for _, p := range fileProblems {
			p.File = path
			problems = append(problems, p)
		}
	}
	problems = append(problems, applyEnv(environ, sections)...)
	problems = append(problems, validate(sections, problems)...)
	if len(problems) > 0 {
		return &Error{Problems: problems}
	}
	return nil
}

// checkSections rejects sections that cannot be loaded: a mistake of the
// program, not of its configuration.
func checkSections(sections []Section) error {
	seen := map[string]bool{}
	for _, s := range sections {
		v := reflect.ValueOf(s.Value)
		switch {
		case s.Key == "":
			return errors.New("config: a section has no key")
		case seen[s.Key]:
			return fmt.Errorf("config: section %q is given twice", s.Key)
		case v.Kind() != reflect.Pointer || v.IsNil():
			return fmt.Errorf("config: section %q: Value must be a non-nil pointer to its settings, not %T", s.Key, s.Value)
		}
		if k := v.Elem().Kind(); k != reflect.Struct && k != reflect.Map {
			return fmt.Errorf("config: section %q: Value must point to a struct or a map of named structs, not %T", s.Key, s.Value)
		}
		seen[s.Key] = true
	}
	return nil
}

// validate runs the sections' own checks and, if they all pass, the checks
// across sections, and returns their problems, leaving out keys that
// already have one (a value that did not parse is checked with the value it
// keeps).
func validate(sections []Section, earlier []Problem) []Problem {
	known := map[string]bool{}
	for _, p := range earlier {
		known[p.Key] = true
	}
	values := map[string]any{}
	for _, s := range sections {
		values[s.Key] = s.Value
	}
	var out []Problem
	add := func(section string, err error) {
		if err == nil {
			return
		}
		probs, ok := setting.Problems(err)
		if !ok {
			out = append(out, Problem{Key: section, Env: envName([]string{section}), Want: err.Error()})
			return
		}
		for _, sp := range probs {
			key := section + "." + sp.Key
			if known[key] {
				continue
			}
			out = append(out, Problem{Key: key, Env: envName(strings.Split(key, ".")), Value: sp.Value, Want: sp.Want})
		}
	}
	for _, s := range sections {
		if v, ok := s.Value.(Validator); ok {
			add(s.Key, v.Validate())
		}
	}
	if len(out) > 0 {
		return out // the rules across sections need valid sections
	}
	for _, s := range sections {
		if v, ok := s.Value.(CrossValidator); ok {
			add(s.Key, v.ValidateWith(values))
		}
	}
	return out
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
	// Problems are every bad setting found: those of the file, then those of
	// the environment (by variable name), then those of validation.
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
	// Default is the value in the section, rendered as it would be written
	// in an environment variable.
	Default string
	// Field is the struct field that holds the setting, and Owner the
	// struct type: for finding its doc comment.
	Field reflect.StructField
	Owner reflect.Type
}

// Keys lists every setting of the sections, named entries (servers)
// included, in a stable order.
func Keys(sections ...Section) []Key {
	var keys []Key
	for _, s := range sections {
		walk(reflect.ValueOf(s.Value).Elem(), []string{s.Key}, false, func(path []string, v reflect.Value, owner reflect.Type, f reflect.StructField) {
			keys = append(keys, Key{
				Path:    strings.Join(path, "."),
				Env:     envName(path),
				Type:    typeName(v.Type()),
				Default: render(v),
				Field:   f,
				Owner:   owner,
			})
		})
	}
	return keys
}

// walk calls fn for every leaf setting under v, with the struct type and
// field that hold it. Named entries of a map are walked through addressable
// copies; with set, they are written back after fn, so fn may set them.
// Without set the map is only read, so that readers of shared settings never
// race.
func walk(v reflect.Value, path []string, set bool, fn func([]string, reflect.Value, reflect.Type, reflect.StructField)) {
	t := v.Type()
	switch t.Kind() {
	case reflect.Map:
		names := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			names = append(names, k.String())
		}
		sort.Strings(names)
		for _, name := range names {
			entry := reflect.New(t.Elem()).Elem()
			entry.Set(v.MapIndex(reflect.ValueOf(name)))
			walk(entry, append(slices.Clip(path), name), set, fn)
			if set {
				v.SetMapIndex(reflect.ValueOf(name), entry)
			}
		}
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || yamlName(f) == "-" {
				continue
			}
			fv := v.Field(i)
			if isLeaf(fv.Type()) {
				fn(append(slices.Clip(path), yamlName(f)), fv, t, f)
			} else {
				walk(fv, append(slices.Clip(path), yamlName(f)), set, fn)
			}
		}
	}
}

// isLeaf reports whether a value of type t is one setting rather than a
// group of settings.
func isLeaf(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return true
	}
	return t.Kind() != reflect.Struct && t.Kind() != reflect.Map
}

func lookup(environ []string, name string) (string, bool) {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
