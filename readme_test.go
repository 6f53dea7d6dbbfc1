package lameduck

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

	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/httpmodule"
)

var update = flag.Bool("update", false, "rewrite the config table in ../README.md from the code")

const (
	readmePath  = "README.md"
	tableStart  = "<!-- config-table:start -->"
	tableEnd    = "<!-- config-table:end -->"
	regenerate  = "go test . -run TestReadmeConfigTable -update"
	kubeEnvNote = "KUBERNETES_SERVICE_HOST=10.96.0.1"
)

// TestReadmeConfigTable keeps the README's config table equal to what the
// code says: every key of every module's section, its variable, type and
// default, and the first sentence of its field's doc comment in the module's
// source.
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
	t.Errorf("README.md's config table is out of date with the modules' settings (%s).\nRegenerate it with:\n\t%s",
		firstDiff(string(readme[start:end]), table), regenerate)
}

// configTable renders the Markdown between the README markers.
func configTable(t *testing.T) string {
	plain, kube := DefaultConfig(nil), DefaultConfig([]string{kubeEnvNote})
	kubeDefaults := map[string]string{}
	for _, k := range config.Keys(kube.Sections()...) {
		kubeDefaults[k.Path] = k.Default
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n<!-- Generated from the modules' settings by `%s`. Do not edit. -->\n\n", regenerate)
	b.WriteString("| Key (YAML) | Environment variable | Type | Default | Description |\n")
	b.WriteString("|---|---|---|---|---|\n")
	var kubeNotes []string
	docs := map[string]map[string]string{} // package path -> "Type.Field" -> doc
	for _, k := range config.Keys(plain.Sections()...) {
		pkg := k.Owner.PkgPath()
		if docs[pkg] == nil {
			docs[pkg] = fieldDocs(t, pkg)
		}
		text := docs[pkg][k.Owner.Name()+"."+k.Field.Name]
		if text == "" {
			t.Errorf("%s (field %s.%s) has no doc comment: the README table takes its description from it", k.Path, k.Owner, k.Field.Name)
		}
		def := code(k.Default)
		if kd := kubeDefaults[k.Path]; kd != k.Default {
			def += fmt.Sprintf(" (%s in Kubernetes)", code(kd))
			kubeNotes = append(kubeNotes, fmt.Sprintf("`%s` defaults to `%s` when `KUBERNETES_SERVICE_HOST` is set (the process runs in a pod) and to `%s` elsewhere.",
				k.Path, kd, k.Default))
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s |\n", k.Path, k.Env, k.Type, def, cell(describe(k.Field.Name, text)))
	}

	b.WriteString("\n")
	fmt.Fprintf(&b, "- `servers.%s.*` is the default server. Every server named under `servers:` in the file (lower-case letters and digits) "+
		"has the same keys, `servers.<name>.*`, and the same variables, `%sSERVERS_<NAME>_*`. Variables set only servers that exist: "+
		"add servers in the file; `<name>: null` removes one.\n", httpmodule.DefaultServerName, config.EnvPrefix)
	for _, n := range kubeNotes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("- In variables, lists are comma-separated (`http1,h2c`); in the file they are YAML lists. " +
		"Values are written the same way in both: durations `5s`, `0`; sizes `4096`, `64KiB`, `1MiB`.\n")
	fmt.Fprintf(&b, "- `%s` is not a setting: it names the YAML file. Any other `%s*` variable that is not in this table is an error.\n",
		config.EnvFile, config.EnvPrefix)
	return b.String()
}

// fieldDocs returns the doc comment of every struct field of the package
// with import path pkg, keyed by "Type.Field".
func fieldDocs(t *testing.T, pkg string) map[string]string {
	dir := "."
	if rel, ok := strings.CutPrefix(pkg, modulePath+"/"); ok {
		dir = rel
	} else if pkg != modulePath {
		t.Fatalf("settings of package %s, outside the module", pkg)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
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

// modulePath is this module's path, the prefix of its packages' import paths.
var modulePath = reflect.TypeFor[Config]().PkgPath()

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
