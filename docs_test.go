package lameduck

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every Go block in the README and the docs is a copy of code that CI
// builds: a file, or a region of one, under docs/snippets/ (or elsewhere in
// the module), named by a marker on the line before the block:
//
//	<!-- snippet: docs/snippets/hello/main.go -->
//	<!-- snippet: docs/snippets/orders/orders.go#module -->
//
// A region is the lines between "// snippet:start NAME" and
// "// snippet:end NAME", dedented. TestDocSnippets fails when a block
// differs from its source or has no marker; -update rewrites the blocks
// from their sources.
func TestDocSnippets(t *testing.T) {
	docs := []string{"README.md"}
	for _, pattern := range []string{"docs/*.md", "docs/*/*.md", "examples/*/README.md"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, m...)
	}
	for _, doc := range docs {
		checkSnippets(t, doc)
	}
}

var snippetMarker = regexp.MustCompile(`^<!-- snippet: ([^ #]+)(?:#([\w-]+))? -->$`)

func checkSnippets(t *testing.T, doc string) {
	data, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var out []string
	changed := false
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		out = append(out, line)
		if !strings.HasPrefix(line, "```go") {
			continue
		}
		end := i + 1
		for end < len(lines) && !strings.HasPrefix(lines[end], "```") {
			end++
		}
		block := strings.Join(lines[i+1:end], "\n")
		var m []string
		if i > 0 {
			m = snippetMarker.FindStringSubmatch(lines[i-1])
		}
		if m == nil {
			t.Errorf("%s:%d: a Go block without a snippet marker: put the code in a file that CI builds (docs/snippets/...) "+
				"and mark the block with <!-- snippet: path[#region] --> on the line before it", doc, i+1)
			out = append(out, lines[i+1:end]...)
			i = end - 1
			continue
		}
		want, err := extractSnippet(m[1], m[2])
		if err != nil {
			t.Errorf("%s:%d: %v", doc, i, err)
			want = block
		}
		if block != want {
			if *update {
				changed = true
			} else {
				t.Errorf("%s:%d: the Go block differs from %s; regenerate the docs with:\n\tgo test . -run TestDocSnippets -update", doc, i+1, lines[i-1])
			}
		}
		out = append(out, strings.Split(want, "\n")...)
		i = end - 1
	}
	if changed {
		if err := os.WriteFile(doc, []byte(strings.Join(out, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the Go blocks of %s", doc)
	}
}

// extractSnippet returns the file at path, or its region, as a doc shows
// it: region markers removed, the region dedented, no trailing newline.
func extractSnippet(path, region string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var got []string
	inside := region == ""
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "// snippet:start "+region && region != "":
			inside, found = true, true
			continue
		case trimmed == "// snippet:end "+region && region != "":
			inside = false
			continue
		case strings.HasPrefix(trimmed, "// snippet:"):
			continue
		}
		if inside {
			got = append(got, line)
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if region != "" && !found {
		return "", fmt.Errorf("%s has no region %q (// snippet:start %s ... // snippet:end %s)", path, region, region, region)
	}
	for len(got) > 0 && got[len(got)-1] == "" {
		got = got[:len(got)-1]
	}
	return strings.Join(dedent(got), "\n"), nil
}

// dedent removes the leading tabs that every non-empty line has.
func dedent(lines []string) []string {
	common := -1
	for _, l := range lines {
		if l == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if common < 0 || n < common {
			common = n
		}
	}
	if common <= 0 {
		return lines
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) >= common {
			out[i] = l[common:]
		}
	}
	return out
}
