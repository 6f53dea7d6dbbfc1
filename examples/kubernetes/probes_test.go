package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lameduck/lameduck/lifecycle"
)

var update = flag.Bool("update", false, "rewrite deployment.yaml's config checksum from its ConfigMap")

// The probe numbers have the reasons deployment.yaml gives: a probe's
// timeout leaves room for the readiness checks' own timeout, one slow
// answer does not pull a pod out of its Service, and the start-up probe
// keeps the liveness probe off a pod that is still starting.
func TestProbeNumbers(t *testing.T) {
	_, c := deployment(t, manifests(t))
	checks := int(lifecycle.CheckTimeout / time.Second)
	for name, p := range map[string]*probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if p == nil {
			t.Fatalf("no %s", name)
		}
		if p.TimeoutSeconds <= checks {
			t.Errorf("%s.timeoutSeconds %d: want more than lifecycle.CheckTimeout (%v), or a slow readiness check fails the probe", name, p.TimeoutSeconds, lifecycle.CheckTimeout)
		}
	}
	if c.ReadinessProbe.FailureThreshold < 2 {
		t.Errorf("readinessProbe.failureThreshold %d: want at least 2, so that one slow answer on a busy node keeps the pod in its Service", c.ReadinessProbe.FailureThreshold)
	}
	if start := c.StartupProbe.PeriodSeconds * c.StartupProbe.FailureThreshold; start < 10 {
		t.Errorf("startupProbe allows %ds of start-up: want at least 10s", start)
	}
}

var checksumLine = regexp.MustCompile(`(?m)^(\s*checksum/config: )"[^"]*"$`)

// The pod template carries the SHA-256 of the ConfigMap's config.yaml, so
// that applying a changed ConfigMap changes the template and rolls the pods
// (a pod reads its config once, at start).
func TestConfigChecksum(t *testing.T) {
	objs := manifests(t)
	var data string
	for _, o := range objs {
		if o.Kind == "ConfigMap" {
			data = o.Data["config.yaml"]
		}
	}
	if data == "" {
		t.Fatal("no ConfigMap with a config.yaml")
	}
	sum := sha256.Sum256([]byte(data))
	want := hex.EncodeToString(sum[:])
	d, _ := deployment(t, objs)
	got := d.Template.Metadata.Annotations["checksum/config"]
	if got == want {
		return
	}
	if !*update {
		t.Fatalf("checksum/config is %q, want %q (the ConfigMap changed): regenerate it with\n\tgo test ./examples/kubernetes -run TestConfigChecksum -update", got, want)
	}
	raw, err := os.ReadFile("deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !checksumLine.Match(raw) {
		t.Fatal("deployment.yaml has no checksum/config annotation line to rewrite")
	}
	raw = checksumLine.ReplaceAll(raw, []byte(`${1}"`+want+`"`))
	if err := os.WriteFile("deployment.yaml", raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The Dockerfile builds with the Go that go.mod's toolchain line names, and
// the build context that the repository's .dockerignore leaves builds the
// starter: the files it lets through, copied alone, compile.
func TestDockerContextBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the starter from a copy of the module")
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	toolchain := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindSubmatch(gomod)
	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindSubmatch(dockerfile)
	if toolchain == nil || goVersion == nil || string(toolchain[1]) != string(goVersion[1]) {
		t.Errorf("the Dockerfile's GO_VERSION %q is not go.mod's toolchain %q", goVersion, toolchain)
	}

	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", "../..", "ls-files").Output()
	if err != nil {
		t.Skipf("git ls-files: %v (not a checkout)", err)
	}
	dir := t.TempDir()
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if ignored(f, string(ignore)) {
			continue
		}
		data, err := os.ReadFile(filepath.Join("../..", f))
		if err != nil {
			continue // deleted in the working tree
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", os.DevNull, "./examples/starter")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if msg, err := build.CombinedOutput(); err != nil {
		t.Errorf("the starter does not build from the context .dockerignore leaves: %v\n%s", err, msg)
	}
}

// ignored reports whether .dockerignore's patterns (a directory, or
// **/ followed by a base name pattern) leave path out.
func ignored(path, patterns string) bool {
	for _, p := range strings.Split(patterns, "\n") {
		p = strings.TrimSpace(p)
		switch {
		case p == "" || strings.HasPrefix(p, "#"):
		case strings.HasPrefix(p, "**/"):
			for _, seg := range strings.Split(path, "/") {
				if ok, _ := filepath.Match(strings.TrimPrefix(p, "**/"), seg); ok {
					return true
				}
			}
		case path == p || strings.HasPrefix(path, p+"/"):
			return true
		}
	}
	return false
}
