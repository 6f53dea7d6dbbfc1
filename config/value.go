package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/lameduck/lameduck/setting"
)

var (
	durationType    = reflect.TypeFor[time.Duration]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && yamlName(f) == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tagsOf(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && yamlName(f) != "-" {
			out = append(out, yamlName(f))
		}
	}
	return out
}

// yamlName is the field's key: its yaml tag, or its name with a lower-case
// first letter.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "" {
		name = strings.ToLower(f.Name[:1]) + f.Name[1:]
	}
	return name
}

// newEntry returns the value a named entry that the file adds to the map m
// starts from: what m's NewEntry(name string) method returns, if it has
// one, else the zero value.
func newEntry(m reflect.Value, name string) reflect.Value {
	entry := reflect.New(m.Type().Elem()).Elem()
	if meth := m.MethodByName("NewEntry"); meth.IsValid() {
		mt := meth.Type()
		if mt.NumIn() == 1 && mt.In(0).Kind() == reflect.String && mt.NumOut() == 1 && mt.Out(0) == entry.Type() {
			entry.Set(meth.Call([]reflect.Value{reflect.ValueOf(name)})[0])
		}
	}
	return entry
}

const entryNameWant = "a name of lower-case letters and digits, starting with a letter (it becomes part of the variables' names)"

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Name() == "ByteSize":
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
	case fmt.Stringer:
		if v.Kind() != reflect.String && v.Kind() != reflect.Slice {
			return x.String()
		}
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

// setString parses s into the setting v. Its error says what is allowed,
// as the end of "want ...".
func setString(v reflect.Value, s string) error {
	s = strings.TrimSpace(s)
	if v.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf(`a Go duration such as "5s" or "250ms"`)
		}
		v.SetInt(int64(d))
		return nil
	}
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok && v.Kind() != reflect.Slice {
		err := u.UnmarshalText([]byte(s))
		if se := (*setting.SyntaxError)(nil); errors.As(err, &se) {
			return errors.New(se.Want)
		}
		return err
	}
	if v.Kind() == reflect.Slice {
		return setList(v, s)
	}
	return setScalar(v, s)
}

// setScalar parses s into v, a bool, number or string setting.
func setScalar(v reflect.Value, s string) error {
	switch v.Kind() {
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v.OverflowInt(n) {
			return fmt.Errorf("an integer")
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v.OverflowUint(n) {
			return fmt.Errorf("a non-negative integer")
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || v.OverflowFloat(f) {
			return fmt.Errorf("a number")
		}
		v.SetFloat(f)
	case reflect.String:
		v.SetString(s)
	default:
		return fmt.Errorf("a value of a type this loader cannot read (%s): a bug of the program", v.Type())
	}
	return nil
}

// setList parses s, comma-separated items, into the list v.
func setList(v reflect.Value, s string) error {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	out := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		if err := setString(out.Index(i), item); err != nil {
			return fmt.Errorf("a list whose item %q is %w", item, err)
		}
	}
	v.Set(out)
	return nil
}
