package config

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the config table in ../README.md from the code")

const (
	readmePath  = "../README.md"
	tableStart  = "<!-- config-table:start -->"
	tableEnd    = "<!-- config-table:end -->"
	regenerate  = "go test ./config -run TestReadmeConfigTable -update"
	kubeEnvNote = "KUBERNETES_SERVICE_HOST=10.96.0.1"
)

// TestReadmeConfigTable keeps the README's config table equal to what the
// code says: every key of Config().Keys(), its variable, type and default,
// and the first sentence of its field's doc comment.
func TestReadmeConfigTable(t *testing.T) {
	table := configTable(t)
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	start, end := bytes.Index(readme, []byte(tableStart)), bytes.Index(readme, []byte(tableEnd))
	if start < 0 || end < start {
		t.Fatalf("README.md lacks the markers %s ... %s around the config table", tableStart, tableEnd)
	}
	start += len(tableStart)
	if string(readme[start:end]) == table {
		return
	}
	if *update {
		out := append(append(append([]byte(nil), readme[:start]...), table...), readme[end:]...)
		if err := os.WriteFile(readmePath, out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the config table in %s", readmePath)
		return
	}
	t.Errorf("README.md's config table is out of date with the config package (%s).\nRegenerate it with:\n\t%s",
		firstDiff(string(readme[start:end]), table), regenerate)
}

// configTable renders the Markdown between the README markers.
func configTable(t *testing.T) string {
	docs := fieldDocs(t)
	plain, kube := Default(nil), Default([]string{kubeEnvNote})
	kubeDefaults := map[string]string{}
	for _, k := range kube.Keys() {
		kubeDefaults[k.Path] = k.Default
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n<!-- Generated from the config package by `%s`. Do not edit. -->\n\n", regenerate)
	b.WriteString("| Key (YAML) | Environment variable | Type | Default | Description |\n")
	b.WriteString("|---|---|---|---|---|\n")
	var kubeNotes []string
	for _, k := range plain.Keys() {
		owner, field := fieldOf(t, k.Path)
		text := docs[owner+"."+field]
		if text == "" {
			t.Errorf("%s (field %s.%s) has no doc comment: the README table takes its description from it", k.Path, owner, field)
		}
		def := code(k.Default)
		if kd := kubeDefaults[k.Path]; kd != k.Default {
			def += fmt.Sprintf(" (%s in Kubernetes)", code(kd))
			kubeNotes = append(kubeNotes, fmt.Sprintf("`%s` defaults to `%s` when `KUBERNETES_SERVICE_HOST` is set (the process runs in a pod) and to `%s` elsewhere.",
				k.Path, kd, k.Default))
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s |\n", k.Path, k.Env, k.Type, def, cell(describe(field, text)))
	}

	b.WriteString("\n")
	fmt.Fprintf(&b, "- `servers.%s.*` is the default server. Every server named under `servers:` in the file (lower-case letters and digits) "+
		"has the same keys, `servers.<name>.*`, and the same variables, `%sSERVERS_<NAME>_*`. Variables set only servers that exist: "+
		"add servers in the file; `<name>: null` removes one.\n", DefaultServerName, EnvPrefix)
	for _, n := range kubeNotes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("- In variables, lists are comma-separated (`http1,h2c`); in the file they are YAML lists. " +
		"Values are written the same way in both: durations `5s`, `0`; sizes `4096`, `64KiB`, `1MiB`.\n")
	var reserved []string
	for _, name := range reservedEnv {
		if name != EnvFile {
			reserved = append(reserved, "`"+name+"`")
		}
	}
	for _, p := range reservedEnvPrefixes {
		reserved = append(reserved, "`"+p+"*`")
	}
	fmt.Fprintf(&b, "- Reserved variables, not settings: `%s` (path of the YAML file) and %s (knobs of lameduck's own test and benchmark suites). "+
		"Any other `%s*` variable that is not in this table is an error.\n", EnvFile, strings.Join(reserved, ", "), EnvPrefix)
	return b.String()
}

// fieldOf returns the struct type and field name that hold the setting at
// the dotted YAML path.
func fieldOf(t *testing.T, path string) (owner, field string) {
	typ := reflect.TypeOf(Config{})
	segs := strings.Split(path, ".")
	for i := 0; i < len(segs); i++ {
		if typ == serversType {
			typ = serverType // segs[i] is a server name
			continue
		}
		f, ok := fieldByTag(typ, segs[i])
		if !ok {
			t.Fatalf("key %s: no field %q in %s", path, segs[i], typ)
		}
		owner, field, typ = typ.Name(), f.Name, f.Type
	}
	return owner, field
}

// fieldDocs returns the doc comment of every struct field of the package,
// keyed by "Type.Field".
func fieldDocs(t *testing.T) map[string]string {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			if st, ok := ts.Type.(*ast.StructType); ok {
				for _, fl := range st.Fields.List {
					for _, id := range fl.Names {
						docs[ts.Name.Name+"."+id.Name] = fl.Doc.Text()
					}
				}
			}
			return false
		})
	}
	return docs
}

// describe turns a field's doc comment into a table cell: its first sentence,
// as plain text, without the field's name where it only repeats the key
// ("Total is the whole budget ..." becomes "The whole budget ...").
func describe(field, text string) string {
	s := new(doc.Package).Synopsis(text)
	for _, verb := range []string{" is ", " are "} {
		if rest, ok := strings.CutPrefix(s, field+verb); ok && rest != "" {
			return strings.ToUpper(rest[:1]) + rest[1:]
		}
	}
	return s
}

func code(s string) string {
	if s == "" {
		return "(empty)"
	}
	return "`" + s + "`"
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("first difference at table line %d:\n  README: %s\n  code:   %s", i+1, gl, wl)
		}
	}
	return "no difference"
}
