// Package kubernetes holds the manifests and the Dockerfile that deploy the
// starter on Kubernetes, and the tests that keep their numbers in agreement
// with lameduck's configuration.
package kubernetes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/config"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
)

// The parts of the Kubernetes objects that the tests check.
type (
	meta struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	object struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   meta              `yaml:"metadata"`
		Data       map[string]string `yaml:"data"` // ConfigMap
		Spec       yaml.Node         `yaml:"spec"`
		file       string
	}
	selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	deploymentSpec struct {
		Replicas int      `yaml:"replicas"`
		Selector selector `yaml:"selector"`
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxUnavailable any `yaml:"maxUnavailable"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template struct {
			Metadata meta    `yaml:"metadata"`
			Spec     podSpec `yaml:"spec"`
		} `yaml:"template"`
	}
	podSpec struct {
		TerminationGracePeriodSeconds *int64 `yaml:"terminationGracePeriodSeconds"`
		SecurityContext               struct {
			RunAsNonRoot bool  `yaml:"runAsNonRoot"`
			RunAsUser    int64 `yaml:"runAsUser"`
		} `yaml:"securityContext"`
		Containers []container `yaml:"containers"`
		Volumes    []struct {
			Name      string `yaml:"name"`
			ConfigMap *struct {
				Name string `yaml:"name"`
			} `yaml:"configMap"`
		} `yaml:"volumes"`
	}
	container struct {
		Name  string `yaml:"name"`
		Image string `yaml:"image"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		Env []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom any    `yaml:"valueFrom"`
		} `yaml:"env"`
		StartupProbe   *probe `yaml:"startupProbe"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		Lifecycle      *struct {
			PreStop any `yaml:"preStop"`
		} `yaml:"lifecycle"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		HTTPGet *struct {
			Path string    `yaml:"path"`
			Port yaml.Node `yaml:"port"` // a number or a port name
		} `yaml:"httpGet"`
		PeriodSeconds    int `yaml:"periodSeconds"`
		TimeoutSeconds   int `yaml:"timeoutSeconds"`
		FailureThreshold int `yaml:"failureThreshold"`
	}
	serviceSpec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string    `yaml:"name"`
			Port       int       `yaml:"port"`
			TargetPort yaml.Node `yaml:"targetPort"`
		} `yaml:"ports"`
	}
	pdbSpec struct {
		MaxUnavailable any      `yaml:"maxUnavailable"`
		MinAvailable   any      `yaml:"minAvailable"`
		Selector       selector `yaml:"selector"`
	}
)

// manifests decodes every document of every *.yaml file in this directory.
func manifests(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests here: %v", err)
	}
	var objs []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for i := 1; ; i++ {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s, document %d: %v", f, i, err)
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Fatalf("%s, document %d: want apiVersion, kind and metadata.name, got %q %q %q", f, i, o.APIVersion, o.Kind, o.Metadata.Name)
			}
			o.file = f
			objs = append(objs, o)
		}
	}
	return objs
}

// the returns the one object of kind, decoding its spec into spec.
func the(t *testing.T, objs []object, kind string, spec any) object {
	t.Helper()
	var found []object
	for _, o := range objs {
		if o.Kind == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s, want 1", len(found), kind)
	}
	if spec != nil {
		if err := found[0].Spec.Decode(spec); err != nil {
			t.Fatalf("%s %s (%s): spec: %v", kind, found[0].Metadata.Name, found[0].file, err)
		}
	}
	return found[0]
}

// deployment returns the Deployment's spec and its one container.
func deployment(t *testing.T, objs []object) (deploymentSpec, container) {
	t.Helper()
	var d deploymentSpec
	the(t, objs, "Deployment", &d)
	if len(d.Template.Spec.Containers) != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", len(d.Template.Spec.Containers))
	}
	return d, d.Template.Spec.Containers[0]
}

// podEnv is the environment the starter sees in the pod: the container's
// variables, with LAMEDUCK_CONFIG pointing at a copy of the ConfigMap's file
// that the Deployment mounts there, and the variable Kubernetes sets in
// every pod.
func podEnv(t *testing.T, objs []object) []string {
	t.Helper()
	d, c := deployment(t, objs)
	env := []string{"KUBERNETES_SERVICE_HOST=10.96.0.1"}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Fatalf("env %s comes from valueFrom: the test cannot check it", e.Name)
		}
		value := e.Value
		if e.Name == config.EnvFile {
			value = mountedFile(t, objs, d, c, e.Value)
		}
		env = append(env, e.Name+"="+value)
	}
	return env
}

// mountedFile finds the ConfigMap that the container mounts at path's
// directory, writes its file to a temporary directory and returns that
// copy's path.
func mountedFile(t *testing.T, objs []object, d deploymentSpec, c container, path string) string {
	t.Helper()
	dir, name := filepath.Split(path)
	for _, m := range c.VolumeMounts {
		if filepath.Clean(m.MountPath) != filepath.Clean(dir) {
			continue
		}
		for _, v := range d.Template.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			for _, o := range objs {
				if o.Kind == "ConfigMap" && o.Metadata.Name == v.ConfigMap.Name {
					data, ok := o.Data[name]
					if !ok {
						t.Fatalf("ConfigMap %s has no key %s for %s", o.Metadata.Name, name, path)
					}
					copyPath := filepath.Join(t.TempDir(), name)
					if err := os.WriteFile(copyPath, []byte(data), 0o600); err != nil {
						t.Fatal(err)
					}
					return copyPath
				}
			}
			t.Fatalf("the volume %s names the ConfigMap %s, which is not in the manifests", v.Name, v.ConfigMap.Name)
		}
	}
	t.Fatalf("%s=%s: no ConfigMap volume is mounted at %s", config.EnvFile, path, dir)
	return ""
}

// port returns the port number of a "host:port" address.
func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("address %q has no port", addr)
	}
	return n
}

// containerPort resolves a probe's or Service's port (a number or the name
// of a container port) to a number.
func containerPort(t *testing.T, c container, n yaml.Node) int {
	t.Helper()
	if p, err := strconv.Atoi(n.Value); err == nil {
		return p
	}
	for _, p := range c.Ports {
		if p.Name == n.Value {
			return p.ContainerPort
		}
	}
	t.Fatalf("port %q is not a port of the container %s", n.Value, c.Name)
	return 0
}

// TestManifestsAreWhatWeDeploy: the manifests are valid YAML, every
// document an object with a kind and a name, and together they are a
// ConfigMap, a Deployment, a Service and a PodDisruptionBudget that select
// the Deployment's pods.
func TestManifestsAreWhatWeDeploy(t *testing.T) {
	objs := manifests(t)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Kind)
	}
	slices.Sort(kinds)
	if want := []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service"}; !slices.Equal(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	d, _ := deployment(t, objs)
	pods := d.Template.Metadata.Labels
	matches := func(sel map[string]string) bool {
		for k, v := range sel {
			if pods[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	if !matches(d.Selector.MatchLabels) {
		t.Errorf("the Deployment's selector %v does not match its pods' labels %v", d.Selector.MatchLabels, pods)
	}
	var svc serviceSpec
	the(t, objs, "Service", &svc)
	if !matches(svc.Selector) {
		t.Errorf("the Service's selector %v does not match the pods' labels %v", svc.Selector, pods)
	}
	var pdb pdbSpec
	the(t, objs, "PodDisruptionBudget", &pdb)
	if !matches(pdb.Selector.MatchLabels) {
		t.Errorf("the PodDisruptionBudget's selector %v does not match the pods' labels %v", pdb.Selector.MatchLabels, pods)
	}
	if pdb.MaxUnavailable == nil && pdb.MinAvailable == nil {
		t.Errorf("the PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}
	if d.Replicas < 2 || fmt.Sprint(d.Strategy.RollingUpdate.MaxUnavailable) != "0" {
		t.Errorf("replicas %d, maxUnavailable %v: want at least 2 replicas and a rollout that keeps them all", d.Replicas, d.Strategy.RollingUpdate.MaxUnavailable)
	}
}

// TestBudgetFitsTheGracePeriod: the Deployment's environment and config
// file load and validate, as the starter would load them in the pod; the
// grace period passed in LAMEDUCK_STOP_GRACE_PERIOD is the pod's
// terminationGracePeriodSeconds; and the budget adds up: the phases and
// the reserve fit in stop.total, and stop.total plus the margin fit in the
// grace period.
func TestBudgetFitsTheGracePeriod(t *testing.T) {
	objs := manifests(t)
	d, _ := deployment(t, objs)
	if d.Template.Spec.TerminationGracePeriodSeconds == nil {
		t.Fatal("the Deployment does not set terminationGracePeriodSeconds")
	}
	grace := time.Duration(*d.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	env := podEnv(t, objs)
	cfg, err := lameduck.LoadConfig(env)
	if err != nil {
		t.Fatalf("the starter would not start with the Deployment's settings:\n%v", err)
	}
	s := cfg.Stop
	if s.GracePeriod != grace {
		t.Fatalf("LAMEDUCK_STOP_GRACE_PERIOD gives %v, terminationGracePeriodSeconds %v: they must be equal, or the check proves nothing", s.GracePeriod, grace)
	}
	phases := s.PreStopDelay + s.Shutdown + s.HubDrain + s.Wait
	if phases+s.Reserve > s.Total {
		t.Errorf("preStopDelay %v + shutdown %v + hubDrain %v + wait %v + reserve %v = %v > total %v",
			s.PreStopDelay, s.Shutdown, s.HubDrain, s.Wait, s.Reserve, phases+s.Reserve, s.Total)
	}
	if s.Total+s.Margin > grace {
		t.Errorf("total %v + margin %v = %v > grace period %v", s.Total, s.Margin, s.Total+s.Margin, grace)
	}
	if s.PreStopDelay < lifecycle.DefaultKubernetesPreStopDelay {
		t.Errorf("preStopDelay %v: shorter than %v, load balancers may still send traffic when the listeners close", s.PreStopDelay, lifecycle.DefaultKubernetesPreStopDelay)
	}
	t.Logf("grace %v >= total %v (preStop %v + shutdown %v + hubDrain %v + wait %v + reserve %v = %v) + margin %v; %v to spare",
		grace, s.Total, s.PreStopDelay, s.Shutdown, s.HubDrain, s.Wait, s.Reserve, phases+s.Reserve, s.Margin, grace-s.Total-s.Margin)

	// The check bites: with a grace period too short for the budget, the
	// starter refuses to start.
	short := slices.Clone(env)
	for i, kv := range short {
		if strings.HasPrefix(kv, "LAMEDUCK_STOP_GRACE_PERIOD=") {
			short[i] = fmt.Sprintf("LAMEDUCK_STOP_GRACE_PERIOD=%v", s.Total+s.Margin-time.Second)
		}
	}
	if _, err := lameduck.LoadConfig(short); err == nil || !strings.Contains(err.Error(), "stop.gracePeriod") {
		t.Errorf("a grace period shorter than total + margin loaded: %v", err)
	}
}

// TestProbesAndPortsMatchTheConfig: the probes ask the admin server's
// /readyz and /livez on its port, the container ports and the Service's
// target are the ports the servers listen on, by default and with the
// Deployment's config, and there is no shell-based preStop hook.
func TestProbesAndPortsMatchTheConfig(t *testing.T) {
	objs := manifests(t)
	_, c := deployment(t, objs)
	cfg, err := lameduck.LoadConfig(podEnv(t, objs))
	if err != nil {
		t.Fatal(err)
	}
	defaults := lameduck.DefaultConfig(nil)
	adminPort, publicPort := port(t, cfg.Admin.Addr), port(t, cfg.Servers[httpmodule.DefaultServerName].Addr)
	if adminPort != port(t, defaults.Admin.Addr) || publicPort != port(t, defaults.Servers[httpmodule.DefaultServerName].Addr) {
		t.Errorf("the Deployment moves the ports (admin %d, public %d) away from the defaults (%s, %s): the Dockerfile's EXPOSE and the docs assume them",
			adminPort, publicPort, defaults.Admin.Addr, defaults.Servers[httpmodule.DefaultServerName].Addr)
	}
	for _, p := range []struct {
		name  string
		probe *probe
		path  string
	}{{"startupProbe", c.StartupProbe, "/readyz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/livez"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || containerPort(t, c, p.probe.HTTPGet.Port) != adminPort {
			t.Errorf("%s: GET %s on port %s, want %s on the admin port %d", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.Value, p.path, adminPort)
		}
	}
	var svc serviceSpec
	the(t, objs, "Service", &svc)
	for _, sp := range svc.Ports {
		if got := containerPort(t, c, sp.TargetPort); got != publicPort {
			t.Errorf("Service port %s targets %d, want the public server's %d (the admin port stays private)", sp.Name, got, publicPort)
		}
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		t.Errorf("the container has a preStop hook: the delay runs in the process (stop.preStopDelay)")
	}

	// And the admin server answers those paths.
	app := lameducktest.Start(t)
	for _, path := range []string{c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path} {
		resp, err := http.Get(app.URL("admin") + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s on the admin server: %d, want 200", path, resp.StatusCode)
		}
	}
	lameducktest.RequireClean(t, app.Stop())
}

// TestDockerfile: a multi-stage build of ./examples/starter into a
// distroless static (or scratch) image that runs as the Deployment's
// non-root user and exposes the container's ports.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var froms, users, exposes, entrypoints, builds []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			froms = append(froms, rest)
		case "USER":
			users = append(users, rest)
		case "EXPOSE":
			exposes = append(exposes, strings.Fields(rest)...)
		case "ENTRYPOINT":
			entrypoints = append(entrypoints, rest)
		}
		if strings.Contains(line, "go build") {
			builds = append(builds, line)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("FROM %v: want a multi-stage build", froms)
	}
	final := strings.Fields(froms[len(froms)-1])[0]
	if final != "scratch" && !strings.HasPrefix(final, "gcr.io/distroless/static") {
		t.Errorf("final image %s: want gcr.io/distroless/static* or scratch", final)
	}
	objs := manifests(t)
	d, c := deployment(t, objs)
	wantUser := strconv.FormatInt(d.Template.Spec.SecurityContext.RunAsUser, 10)
	if len(users) == 0 || !strings.HasPrefix(users[len(users)-1], wantUser+":") || wantUser == "0" || !d.Template.Spec.SecurityContext.RunAsNonRoot {
		t.Errorf("USER %v, runAsUser %s, runAsNonRoot %v: want the same non-root user in both", users, wantUser, d.Template.Spec.SecurityContext.RunAsNonRoot)
	}
	var ports []string
	for _, p := range c.Ports {
		ports = append(ports, strconv.Itoa(p.ContainerPort))
	}
	slices.Sort(ports)
	slices.Sort(exposes)
	if !slices.Equal(ports, exposes) {
		t.Errorf("EXPOSE %v, container ports %v: want the same", exposes, ports)
	}
	if len(entrypoints) != 1 || entrypoints[0] != `["/starter"]` {
		t.Errorf("ENTRYPOINT %v: want the exec form [\"/starter\"], no shell", entrypoints)
	}
	if len(builds) != 1 || !strings.Contains(builds[0], "CGO_ENABLED=0") || !strings.HasSuffix(builds[0], "./examples/starter") {
		t.Errorf("build %v: want one static (CGO_ENABLED=0) build of ./examples/starter", builds)
	}
	if _, err := os.Stat(filepath.Join("..", "starter", "main.go")); err != nil {
		t.Errorf("the Dockerfile builds ./examples/starter: %v", err)
	}
}
