package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/lameduck/lameduck/setting"
)

// maxDecodeSteps bounds the work of decoding one file, so that a document
// whose aliases and merge keys expand exponentially fails fast instead of
// eating the CPU.
const maxDecodeSteps = 100_000

// nodeDecoder overlays a YAML node tree on the sections. It reads every
// value with the same syntax as the environment variables ([setString]), so
// that "preStopDelay: 0" in the file means what
// LAMEDUCK_STOP_PRE_STOP_DELAY=0 means, and it reports every problem with
// its key, line, value and what is allowed instead of stopping at the first
// one.
type nodeDecoder struct {
	problems []Problem
	steps    int
	tooDeep  bool
	merging  map[*yaml.Node]bool // mappings whose pairs are being collected
}

// overlayYAML overlays the settings of a YAML document on the sections and
// returns the document's problems; the settings that could be read are
// applied. The error is a syntax error of the document.
func overlayYAML(data []byte, sections []Section) (problems []Problem, err error) {
	defer func() {
		// The YAML parser has panicked on hostile input in the past; a
		// config file must never crash the process without a message.
		if r := recover(); r != nil {
			problems, err = nil, fmt.Errorf("cannot parse YAML: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // no document: nothing to overlay
		}
		return nil, err
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, err
	default:
		return []Problem{{Line: extra.Line, Value: "---",
			Want: "a single YAML document (a second one would be ignored; merge them into one)"}}, nil
	}
	if len(doc.Content) == 0 {
		return nil, nil // only comments
	}
	d := &nodeDecoder{merging: map[*yaml.Node]bool{}}
	d.top(doc.Content[0], sections)
	return d.problems, nil
}

// top overlays the document's mapping of section keys on the sections.
func (d *nodeDecoder) top(n *yaml.Node, sections []Section) {
	n = deref(n)
	if isNull(n) {
		return
	}
	keys := make([]string, len(sections))
	for i, s := range sections {
		keys[i] = s.Key
	}
	if n.Kind != yaml.MappingNode {
		d.add(nil, n, n.Value, fmt.Sprintf("a mapping of sections (%s)", strings.Join(keys, ", ")))
		return
	}
	for _, p := range d.pairs(n, nil) {
		key := p.key.Value
		i := slices.Index(keys, key)
		if i < 0 {
			want := "a known key"
			if s := suggest(key, keys); s != "" {
				want = fmt.Sprintf("a known key (did you mean %s?)", s)
			}
			d.add([]string{key}, p.key, "", want)
			continue
		}
		d.decode(p.val, reflect.ValueOf(sections[i].Value).Elem(), []string{key})
	}
}

func (d *nodeDecoder) add(path []string, n *yaml.Node, value, want string) {
	d.problems = append(d.problems, Problem{Key: strings.Join(path, "."), Line: n.Line, Value: value, Want: want})
}

// step counts work and reports whether decoding may go on.
func (d *nodeDecoder) step(n *yaml.Node) bool {
	if d.tooDeep {
		return false
	}
	if d.steps++; d.steps > maxDecodeSteps {
		d.tooDeep = true
		d.problems = append(d.problems, Problem{Line: n.Line,
			Want: fmt.Sprintf("a document that expands to fewer than %d values (its aliases and merge keys expand too much)", maxDecodeSteps)})
		return false
	}
	return true
}

// sub is path/key, never sharing storage with a sibling's path.
func sub(path []string, key string) []string { return append(slices.Clip(path), key) }

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && (n.Tag == "" || n.Tag == "!" || n.ShortTag() == "!!merge")
}

// decode overlays n on v, the setting or section at path.
func (d *nodeDecoder) decode(n *yaml.Node, v reflect.Value, path []string) {
	if !d.step(n) {
		return
	}
	n = deref(n)
	t := v.Type()
	switch {
	case isLeaf(t) && t.Kind() == reflect.Slice:
		d.list(n, v, path)
	case isLeaf(t):
		d.scalar(n, v, path)
	case t.Kind() == reflect.Map:
		d.entries(n, v, path)
	default:
		d.section(n, v, path)
	}
}

// section overlays a mapping of settings on the struct v. A null section
// ("stop:" with every line under it commented out) changes nothing.
func (d *nodeDecoder) section(n *yaml.Node, v reflect.Value, path []string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.add(path, n, n.Value, fmt.Sprintf("a mapping of settings (%s)", strings.Join(tagsOf(v.Type()), ", ")))
		return
	}
	t := v.Type()
	for _, p := range d.pairs(n, path) {
		key := p.key.Value
		f, ok := fieldByTag(t, key)
		if !ok {
			want := "a known key"
			if s := suggest(key, tagsOf(t)); s != "" {
				want = fmt.Sprintf("a known key (did you mean %s?)", strings.Join(sub(path, s), "."))
			}
			d.add(sub(path, key), p.key, "", want)
			continue
		}
		d.decode(p.val, v.FieldByIndex(f.Index), sub(path, key))
	}
}

// entries overlays a mapping of names on the map of named settings v (such
// as servers): an entry the map already has keeps what the file does not
// set, a new entry starts from the map's NewEntry (see [newEntry]), and an
// entry mapped to null is removed. A null mapping changes nothing.
func (d *nodeDecoder) entries(n *yaml.Node, v reflect.Value, path []string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.add(path, n, n.Value, "a mapping of names to their settings")
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, p := range d.pairs(n, path) {
		name := p.key.Value
		if !setting.ValidName(name) {
			d.add(sub(path, name), p.key, name, entryNameWant)
			continue
		}
		if isNull(deref(p.val)) {
			v.SetMapIndex(reflect.ValueOf(name), reflect.Value{})
			continue
		}
		entry := newEntry(v, name)
		if old := v.MapIndex(reflect.ValueOf(name)); old.IsValid() {
			entry.Set(old)
		}
		d.decode(p.val, entry, sub(path, name))
		v.SetMapIndex(reflect.ValueOf(name), entry)
	}
}

// list replaces the list v with the items of sequence n. A null list is
// empty.
func (d *nodeDecoder) list(n *yaml.Node, v reflect.Value, path []string) {
	if isNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.add(path, n, n.Value, "a YAML list such as [a, b] (a comma-separated string is for environment variables)")
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	ok := true
	for i, item := range n.Content {
		if !d.step(item) {
			return
		}
		item = deref(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			d.add(path, item, item.Value, "a list of plain values")
			ok = false
			continue
		}
		if err := setYAMLScalar(out.Index(i), item.Value); err != nil {
			d.add(path, item, item.Value, err.Error())
			ok = false
		}
	}
	if ok {
		v.Set(out)
	}
}

// scalar sets the single value v from n.
func (d *nodeDecoder) scalar(n *yaml.Node, v reflect.Value, path []string) {
	switch {
	case isNull(n):
		d.add(path, n, "", "a value (remove the key to keep the default)")
	case n.Kind != yaml.ScalarNode:
		d.add(path, n, "", "a single value, not a list or a mapping")
	default:
		if err := setYAMLScalar(v, n.Value); err != nil {
			d.add(path, n, n.Value, err.Error())
		}
	}
}

// setYAMLScalar is setString, except that strings keep the exact text the
// file gives them (YAML already trims plain scalars; quoted ones mean what
// they say).
func setYAMLScalar(v reflect.Value, s string) error {
	if v.Kind() == reflect.String {
		v.SetString(s)
		return nil
	}
	return setString(v, s)
}

type pair struct{ key, val *yaml.Node }

// pairs returns the key/value pairs of mapping n in the order they apply, so
// that later pairs override earlier ones: first those merged in with YAML
// merge keys ("<<: *base", the last of a list of merged mappings first), then
// n's own. A key that n itself sets twice is a problem.
func (d *nodeDecoder) pairs(n *yaml.Node, path []string) []pair {
	if d.merging[n] {
		d.add(path, n, "<<", "merge keys that do not merge a mapping into itself")
		return nil
	}
	d.merging[n] = true
	defer delete(d.merging, n)
	var merged, own []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !d.step(n.Content[i]) {
			return nil
		}
		key, val := deref(n.Content[i]), n.Content[i+1]
		if isMergeKey(key) {
			merged = append(merged, d.merge(val, path)...)
			continue
		}
		if line, dup := seen[key.Value]; dup {
			d.add(sub(path, key.Value), key, "", fmt.Sprintf("each key once (it is already set at line %d)", line))
			continue
		}
		seen[key.Value] = key.Line
		own = append(own, pair{key, val})
	}
	return append(merged, own...)
}

// merge returns the pairs that the value of a merge key brings in: one
// mapping or a list of mappings.
func (d *nodeDecoder) merge(val *yaml.Node, path []string) []pair {
	val = deref(val)
	switch val.Kind {
	case yaml.MappingNode:
		return d.pairs(val, path)
	case yaml.SequenceNode:
		var out []pair
		for i := len(val.Content) - 1; i >= 0; i-- {
			m := deref(val.Content[i])
			if m.Kind != yaml.MappingNode {
				d.add(path, m, "<<", "merge keys whose value is a mapping or a list of mappings")
				continue
			}
			out = append(out, d.pairs(m, path)...)
		}
		return out
	}
	d.add(path, val, "<<", "merge keys whose value is a mapping or a list of mappings")
	return nil
}
