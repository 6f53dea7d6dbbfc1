package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lameduck/lameduck/setting"
)

// The sections these tests load: a budget with rules between its settings,
// a map of named entries with a default for new ones, and one that checks
// itself against another section.
type budget struct {
	Total   time.Duration `yaml:"total"`
	Reserve time.Duration `yaml:"reserve"`
	Verbose bool          `yaml:"verbose"`
}

func (b budget) Validate() error {
	var c setting.Check
	c.Duration("total", b.Total, time.Second, time.Hour)
	if b.Total >= time.Second {
		c.Duration("reserve", b.Reserve, 0, b.Total/2)
	}
	return c.Err()
}

type endpoint struct {
	Addr      string           `yaml:"addr"`
	Protocols []string         `yaml:"protocols"`
	Limit     setting.ByteSize `yaml:"limit"`
	Timeout   time.Duration    `yaml:"timeout"`
}

type endpoints map[string]endpoint

func (endpoints) NewEntry(name string) endpoint {
	return endpoint{Protocols: []string{"http1"}, Limit: 64 * setting.KiB, Timeout: 5 * time.Second}
}

type probe struct {
	Every time.Duration `yaml:"every"`
}

// ValidateWith wants the probe to be faster than the budget.
func (p probe) ValidateWith(sections map[string]any) error {
	b := sections["budget"].(*budget)
	if p.Every >= b.Total {
		var c setting.Check
		c.Add("every", p.Every.String(), fmt.Sprintf("less than budget.total (%v)", b.Total))
		return c.Err()
	}
	return nil
}

type testConfig struct {
	budget    budget
	endpoints endpoints
	probe     probe
}

func defaults() *testConfig {
	return &testConfig{
		budget:    budget{Total: 10 * time.Second, Reserve: time.Second},
		endpoints: endpoints{"public": {Addr: ":8080", Protocols: []string{"http1", "h2c"}, Limit: setting.MiB, Timeout: time.Second}},
		probe:     probe{Every: time.Second},
	}
}

func (c *testConfig) sections() []Section {
	return []Section{{Key: "budget", Value: &c.budget}, {Key: "endpoints", Value: &c.endpoints}, {Key: "probe", Value: &c.probe}}
}

func load(t *testing.T, environ ...string) (*testConfig, error) {
	t.Helper()
	c := defaults()
	return c, Load(environ, c.sections()...)
}

// Later sources win: defaults, then the file, then the environment.
func TestLoadPrecedence(t *testing.T) {
	file := writeConfig(t, "budget:\n  total: 20s\n  reserve: 2s\nendpoints:\n  public:\n    addr: ':9000'\n")
	c, err := load(t, file, "LAMEDUCK_BUDGET_TOTAL=30s", "LAMEDUCK_ENDPOINTS_PUBLIC_LIMIT=4KiB")
	if err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.budget = budget{Total: 30 * time.Second, Reserve: 2 * time.Second}
	want.endpoints["public"] = endpoint{Addr: ":9000", Protocols: []string{"http1", "h2c"}, Limit: 4 * setting.KiB, Timeout: time.Second}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("loaded %+v, want %+v", c, want)
	}
}

// The file adds named entries, which start from the map's NewEntry, and
// removes them with null; variables then reach the added ones.
func TestLoadNamedEntries(t *testing.T) {
	file := writeConfig(t, "endpoints:\n  public: null\n  internal:\n    addr: 127.0.0.1:0\n")
	c, err := load(t, file, "LAMEDUCK_ENDPOINTS_INTERNAL_PROTOCOLS=h2c, http1")
	if err != nil {
		t.Fatal(err)
	}
	want := endpoints{"internal": {Addr: "127.0.0.1:0", Protocols: []string{"h2c", "http1"}, Limit: 64 * setting.KiB, Timeout: 5 * time.Second}}
	if !reflect.DeepEqual(c.endpoints, want) {
		t.Errorf("endpoints %+v, want %+v", c.endpoints, want)
	}
	_, err = load(t, "LAMEDUCK_ENDPOINTS_API_ADDR=:1")
	if p := findProblem(t, err, "LAMEDUCK_ENDPOINTS_API_ADDR"); !strings.Contains(p.Want, `there is no "api"; add it under endpoints: in the config file`) {
		t.Errorf("a variable of a missing entry: %s", p)
	}
	_, err = load(t, writeConfig(t, "endpoints:\n  Bad_Name: {addr: ':1'}\n"))
	if p := findProblem(t, err, "endpoints.Bad_Name"); !strings.Contains(p.Want, "lower-case letters and digits") {
		t.Errorf("a bad entry name: %s", p)
	}
}

// Every kind of problem comes out at once: a file key that does not exist
// (with the key it probably meant), values that do not parse in the file and
// in the environment, an unknown variable (with a suggestion), validation of
// a section and a rule across sections; none twice, no "want want".
func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	file := writeConfig(t, "budget:\n  totl: 5s\nendpoints:\n  public:\n    limit: 64kb\n")
	_, err := load(t, file,
		"LAMEDUCK_BUDGET_RESERVE=abc",        // does not parse
		"LAMEDUCK_BUDGET_VERBOSE=maybe",      // does not parse
		"LAMEDUCK_BUDGT_TOTAL=5s",            // unknown, close to a known one
		"LAMEDUCK_ENDPOINTS_PUBLIC_TIMEOUT=", // does not parse
		"LAMEDUCK_PROBE_EVERY=1m",            // validation across sections
	)
	want := []string{
		`budget.totl at ` + strings.TrimPrefix(file, EnvFile+"=") + `:2: want a known key (did you mean budget.total?)`,
		`endpoints.public.limit at ` + strings.TrimPrefix(file, EnvFile+"=") + `:5 = "64kb": want bytes or a number with a unit (KiB, MiB, GiB, KB, MB, GB), such as "1MiB"`,
		`LAMEDUCK_BUDGT_TOTAL = "5s": want a known LAMEDUCK_* variable (did you mean LAMEDUCK_BUDGET_TOTAL?)`,
		`budget.reserve (LAMEDUCK_BUDGET_RESERVE) = "abc": want a Go duration such as "5s" or "250ms"`,
		`budget.verbose (LAMEDUCK_BUDGET_VERBOSE) = "maybe": want true or false`,
		`endpoints.public.timeout (LAMEDUCK_ENDPOINTS_PUBLIC_TIMEOUT): want a Go duration such as "5s" or "250ms"`,
		`probe.every (LAMEDUCK_PROBE_EVERY) = "1m0s": want less than budget.total (10s)`,
	}
	var got []string
	for _, p := range problemsOf(t, err) {
		got = append(got, p.String())
		if strings.Contains(p.String(), "want want") {
			t.Errorf("doubled word: %s", p)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// A rule that depends on a bad setting is not checked: one mistake is
// reported once, with the key the user set.
func TestLoadReportsOneMistakeOnce(t *testing.T) {
	_, err := load(t, "LAMEDUCK_BUDGET_TOTAL=-5s")
	probs := problemsOf(t, err)
	if len(probs) != 1 || probs[0].Key != "budget.total" {
		t.Errorf("problems %v, want only budget.total's", probs)
	}
}

// The YAML file's structure: anchors and merge keys apply, later keys win;
// a second document, a key given twice, a list where a value goes and a
// value where a mapping goes are problems, each with its line.
func TestLoadFileStructure(t *testing.T) {
	_, err := load(t, writeConfig(t, "x: &b {total: 20s}\n"))
	if err == nil || !strings.Contains(findProblem(t, err, "x").Want, "a known key") {
		t.Fatalf("an unknown section: %v", err)
	}
	c, err := load(t, writeConfig(t, "budget: &b {total: 20s, reserve: 2s}\nprobe: {every: 2s}\n"))
	if err != nil || c.budget.Total != 20*time.Second {
		t.Fatalf("anchors: %+v %v", c.budget, err)
	}
	for yaml, want := range map[string]string{
		"budget: {total: 5s}\n---\nbudget: {total: 6s}\n": "a single YAML document",
		"budget:\n  total: 5s\n  total: 6s\n":             "each key once (it is already set at line 2)",
		"budget:\n  total: [5s]\n":                        "a single value, not a list or a mapping",
		"budget: 5s\n":                                    "a mapping of settings (total, reserve, verbose)",
		"endpoints:\n  public:\n    protocols: h2c\n":     "a YAML list such as [a, b]",
		"budget: &a {<<: *a}\n":                           "merge keys that do not merge a mapping into itself",
	} {
		_, err := load(t, writeConfig(t, yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("file %q: %v, want a problem saying %q", yaml, err, want)
		}
	}
}

// Keys lists every setting with its variable, type and default, named
// entries included, without changing the sections.
func TestKeys(t *testing.T) {
	c := defaults()
	keys := Keys(c.sections()...)
	var got []string
	for _, k := range keys {
		got = append(got, fmt.Sprintf("%s %s %s %s %s.%s", k.Path, k.Env, k.Type, k.Default, k.Owner.Name(), k.Field.Name))
	}
	want := []string{
		"budget.total LAMEDUCK_BUDGET_TOTAL duration 10s budget.Total",
		"budget.reserve LAMEDUCK_BUDGET_RESERVE duration 1s budget.Reserve",
		"budget.verbose LAMEDUCK_BUDGET_VERBOSE bool false budget.Verbose",
		"endpoints.public.addr LAMEDUCK_ENDPOINTS_PUBLIC_ADDR string :8080 endpoint.Addr",
		"endpoints.public.protocols LAMEDUCK_ENDPOINTS_PUBLIC_PROTOCOLS list http1,h2c endpoint.Protocols",
		"endpoints.public.limit LAMEDUCK_ENDPOINTS_PUBLIC_LIMIT size 1MiB endpoint.Limit",
		"endpoints.public.timeout LAMEDUCK_ENDPOINTS_PUBLIC_TIMEOUT duration 1s endpoint.Timeout",
		"probe.every LAMEDUCK_PROBE_EVERY duration 1s probe.Every",
	}
	if !slices.Equal(got, want) {
		t.Errorf("keys:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if !reflect.DeepEqual(c, defaults()) {
		t.Error("Keys changed the sections")
	}
}

// Setting every key through its variable, with the value Keys renders,
// loads the same settings back.
func TestKeysRoundTrip(t *testing.T) {
	want := defaults()
	want.budget.Reserve, want.budget.Verbose = 3*time.Second, true
	var environ []string
	for _, k := range Keys(want.sections()...) {
		environ = append(environ, k.Env+"="+k.Default)
	}
	c, err := load(t, environ...)
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Errorf("round trip: %+v %v, want %+v", c, err, want)
	}
}

// Sections that cannot be loaded are the program's mistake, said plainly.
func TestLoadRejectsBadSections(t *testing.T) {
	var b budget
	for _, tc := range []struct {
		sections []Section
		want     string
	}{
		{[]Section{{Key: "", Value: &b}}, "has no key"},
		{[]Section{{Key: "a", Value: &b}, {Key: "a", Value: &b}}, "given twice"},
		{[]Section{{Key: "a", Value: b}}, "non-nil pointer"},
		{[]Section{{Key: "a", Value: new(int)}}, "a struct or a map"},
	} {
		if err := Load(nil, tc.sections...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%+v): %v, want %q", tc.sections, err, tc.want)
		}
	}
}
