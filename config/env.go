package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"unicode"
)

// applyEnv overlays the LAMEDUCK_* variables of environ on the sections.
// Every LAMEDUCK_* variable but LAMEDUCK_CONFIG must name a setting (named
// entries, such as servers, are those of the defaults and the file: add new
// ones in the file). It returns every problem, sorted by variable.
func applyEnv(environ []string, sections []Section) []Problem {
	vals := map[string]string{}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || name == EnvFile {
			continue
		}
		if _, dup := vals[name]; !dup { // getenv sees the first of repeated names
			vals[name] = val
		}
	}
	if len(vals) == 0 {
		return nil // nothing to apply: leave the sections unwritten, for they may be shared (Validate)
	}
	var problems []Problem
	var known []string
	for _, s := range sections {
		walk(reflect.ValueOf(s.Value).Elem(), []string{s.Key}, true, func(path []string, v reflect.Value, _ reflect.Type, _ reflect.StructField) {
			name := envName(path)
			known = append(known, name)
			val, ok := vals[name]
			if !ok {
				return
			}
			delete(vals, name)
			if err := setString(v, val); err != nil {
				problems = append(problems, Problem{Key: strings.Join(path, "."), Env: name, Value: val, Want: err.Error()})
			}
		})
	}
	for name, val := range vals {
		problems = append(problems, Problem{Env: name, Value: val, Want: unknownEnvWant(name, known, sections)})
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].Env < problems[j].Env })
	return problems
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
		rs := []rune(p)
		for j, r := range rs {
			// A capital starts a word, except inside an acronym:
			// clientCAFile is CLIENT_CA_FILE.
			if j > 0 && unicode.IsUpper(r) && (!unicode.IsUpper(rs[j-1]) || j+1 < len(rs) && unicode.IsLower(rs[j+1])) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// unknownEnvWant says what to do about the unknown variable name, given the
// known ones.
func unknownEnvWant(name string, known []string, sections []Section) string {
	if want, ok := missingEntryWant(name, sections); ok {
		return want
	}
	short := make([]string, len(known))
	for i, k := range known {
		short[i] = strings.TrimPrefix(k, EnvPrefix)
	}
	if s := suggest(strings.TrimPrefix(name, EnvPrefix), short); s != "" {
		return fmt.Sprintf("a known LAMEDUCK_* variable (did you mean %s%s?)", EnvPrefix, s)
	}
	return "a known LAMEDUCK_* variable (see the README's config table; named entries such as servers are added in the config file)"
}

// missingEntryWant explains a variable of a named entry that does not exist
// (LAMEDUCK_SERVERS_API_ADDR without a server "api"): entries are added in
// the file.
func missingEntryWant(name string, sections []Section) (string, bool) {
	for _, s := range sections {
		t := reflect.TypeOf(s.Value).Elem()
		if t.Kind() != reflect.Map || t.Elem().Kind() != reflect.Struct {
			continue
		}
		rest, ok := strings.CutPrefix(name, envName([]string{s.Key})+"_")
		if !ok {
			continue
		}
		for i := range t.Elem().NumField() {
			f := t.Elem().Field(i)
			if !f.IsExported() {
				continue
			}
			suffix := "_" + strings.TrimPrefix(envName([]string{yamlName(f)}), EnvPrefix)
			if entry, ok := strings.CutSuffix(rest, suffix); ok && entry != "" {
				return fmt.Sprintf("a variable of a configured entry of %s: there is no %q; add it under %s: in the config file (%s) to set %s_%s_*",
					s.Key, strings.ToLower(entry), s.Key, EnvFile, envName([]string{s.Key}), entry), true
			}
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
