package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The suite's knobs:
//
//	KUBECONFIG                  the cluster; unset, the suite skips
//	LAMEDUCK_K8S=require        no reachable cluster fails the suite instead of skipping it (CI)
//	LAMEDUCK_K8S=skip           skip the suite
//	LAMEDUCK_K8S_KUBECTL        the kubectl to run (default: kubectl on PATH)
//	LAMEDUCK_K8S_LOAD_IMAGE     the command that makes a static binary an image the
//	                            cluster's nodes have, run as: CMD BINARY REF... (required)
//	LAMEDUCK_K8S_REPORT=path    write the table into that file (docs/kubernetes.md)
//	LAMEDUCK_K8S_KEEP=1         keep the namespaces after the run
const upHint = "bring a local single-node cluster up and run the suite on it with `bash .ci/k8s.sh test`, " +
	"or point KUBECONFIG at a cluster this machine is a node of and set LAMEDUCK_K8S_LOAD_IMAGE"

func required() bool { return os.Getenv("LAMEDUCK_K8S") == "require" }

// cluster is the cluster of KUBECONFIG, driven with kubectl.
type cluster struct {
	kubectl string
	load    []string // LAMEDUCK_K8S_LOAD_IMAGE, split on spaces
	desc    string   // "Kubernetes v1.34.4, 1 node"
	nodes   int
}

var (
	clusterOnce sync.Once
	theCluster  *cluster
	clusterErr  error
)

// needCluster returns the cluster, or skips the test (fails it with
// LAMEDUCK_K8S=require) when there is none.
func needCluster(t *testing.T) *cluster {
	t.Helper()
	if os.Getenv("LAMEDUCK_K8S") == "skip" {
		t.Skip("LAMEDUCK_K8S=skip")
	}
	clusterOnce.Do(func() { theCluster, clusterErr = findCluster() })
	if clusterErr != nil {
		msg := fmt.Sprintf("kubernetes: %v; %s", clusterErr, upHint)
		if required() {
			t.Fatal(msg + " (LAMEDUCK_K8S=require makes this a failure)")
		}
		t.Skip(msg + " (LAMEDUCK_K8S=require fails instead)")
	}
	return theCluster
}

func findCluster() (*cluster, error) {
	if os.Getenv("KUBECONFIG") == "" {
		return nil, errors.New("KUBECONFIG is not set")
	}
	c := &cluster{kubectl: os.Getenv("LAMEDUCK_K8S_KUBECTL")}
	if c.kubectl == "" {
		c.kubectl = "kubectl"
	}
	if _, err := exec.LookPath(c.kubectl); err != nil {
		return nil, fmt.Errorf("no kubectl: %v (set LAMEDUCK_K8S_KUBECTL)", err)
	}
	c.load = strings.Fields(os.Getenv("LAMEDUCK_K8S_LOAD_IMAGE"))
	if len(c.load) == 0 {
		return nil, errors.New("LAMEDUCK_K8S_LOAD_IMAGE is not set: the suite needs a command that turns a static binary into an image on the nodes (CMD BINARY REF...)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.run(ctx, "", "get", "--raw", "/readyz"); err != nil {
		return nil, fmt.Errorf("the cluster of KUBECONFIG does not answer: %v", err)
	}
	c.desc = "a Kubernetes cluster"
	if out, err := c.run(ctx, "", "version", "-o", "json"); err == nil {
		var v struct {
			Server struct {
				GitVersion string `json:"gitVersion"`
			} `json:"serverVersion"`
		}
		if json.Unmarshal([]byte(out), &v) == nil && v.Server.GitVersion != "" {
			c.desc = "Kubernetes " + v.Server.GitVersion
		}
	}
	if out, err := c.run(ctx, "", "get", "nodes", "-o", "name"); err == nil {
		n := len(strings.Fields(out))
		c.nodes = n
		c.desc += fmt.Sprintf(", %d node%s", n, map[bool]string{true: "s"}[n != 1])
	}
	return c, nil
}

// run runs kubectl with args (and stdin, if not empty) and returns its
// standard output.
func (c *cluster) run(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.kubectl, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// must runs kubectl within timeout and fails the test if it fails.
func (c *cluster) must(t *testing.T, timeout time.Duration, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := c.run(ctx, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// namespace creates a namespace for one test and deletes it (with
// everything in it) when the test ends, unless LAMEDUCK_K8S_KEEP is set.
func (c *cluster) namespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e6)
	c.must(t, 30*time.Second, "", "create", "namespace", ns)
	c.must(t, 30*time.Second, "", "label", "namespace", ns, "app.kubernetes.io/part-of=lameduck-e2e")
	t.Cleanup(func() {
		if os.Getenv("LAMEDUCK_K8S_KEEP") != "" {
			t.Logf("LAMEDUCK_K8S_KEEP: keeping namespace %s", ns)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := c.run(ctx, "", "delete", "namespace", ns, "--wait=true"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return ns
}

// binaries are the programs the suite builds (static, CGO_ENABLED=0) once.
type binaries struct {
	Starter, Naive, Replica, Loadgen, Wsload string
	Root                                     string
}

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
	buildDir  string
)

func bins(t *testing.T) binaries {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %v", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		if buildDir, buildErr = os.MkdirTemp("", "lameduck-k8s-bin-"); buildErr != nil {
			return
		}
		// The image's file system has no user database and runs as 65532.
		if buildErr = os.Chmod(buildDir, 0o755); buildErr != nil {
			return
		}
		pkgs := []string{"./examples/starter", "./e2e/internal/naive", "./e2e/internal/replica", "./e2e/internal/loadgen", "./e2e/internal/wsload"}
		cmd := exec.Command("go", append([]string{"build", "-trimpath", "-o", buildDir + string(filepath.Separator)}, pkgs...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
			return
		}
		built = binaries{
			Starter: filepath.Join(buildDir, "starter"),
			Naive:   filepath.Join(buildDir, "naive"),
			Replica: filepath.Join(buildDir, "replica"),
			Loadgen: filepath.Join(buildDir, "loadgen"),
			Wsload:  filepath.Join(buildDir, "wsload"),
			Root:    root,
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func removeBinaries() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// loadImage makes bin an image named by each of refs on the nodes, with
// LAMEDUCK_K8S_LOAD_IMAGE.
func (c *cluster) loadImage(t *testing.T, bin string, refs ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append(append(append([]string(nil), c.load[1:]...), bin), refs...)
	out, err := exec.CommandContext(ctx, c.load[0], args...).CombinedOutput()
	if err != nil {
		t.Fatalf("LAMEDUCK_K8S_LOAD_IMAGE %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// manifests reads the manifests of examples/kubernetes, the files users
// copy, and patches only what a cluster without a registry needs: the
// container's image, imagePullPolicy Never, and the replica count. It
// returns them as one multi-document stream for kubectl apply.
//
// The fault scenarios pass patch, which changes the Deployment further (its
// pod spec and container) and says why in the test.
func manifests(t *testing.T, root, image string, replicas int, patch ...func(podSpec, ctr map[string]any)) string {
	t.Helper()
	var docs []string
	for _, name := range []string{"deployment.yaml", "service.yaml", "pdb.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, "examples", "kubernetes", name))
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if obj["kind"] == "Deployment" {
				patchDeployment(t, obj, image, replicas, patch)
			}
			j, err := json.Marshal(obj)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			docs = append(docs, string(j))
		}
	}
	return strings.Join(docs, "\n---\n") + "\n"
}

func patchDeployment(t *testing.T, obj map[string]any, image string, replicas int, patch []func(podSpec, ctr map[string]any)) {
	t.Helper()
	spec, _ := obj["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	podSpec, _ := tmpl["spec"].(map[string]any)
	containers, _ := podSpec["containers"].([]any)
	if len(containers) != 1 {
		t.Fatalf("deployment.yaml: %d containers, want 1", len(containers))
	}
	ctr := containers[0].(map[string]any)
	ctr["image"] = image
	ctr["imagePullPolicy"] = "Never"
	spec["replicas"] = replicas
	for _, p := range patch {
		p(podSpec, ctr)
	}
}

// setEnv sets (or, with value "", removes) an environment variable of the
// container.
func setEnv(ctr map[string]any, name, value string) {
	env, _ := ctr["env"].([]any)
	out := []any{}
	for _, e := range env {
		if m, ok := e.(map[string]any); ok && m["name"] == name {
			continue
		}
		out = append(out, e)
	}
	if value != "" {
		out = append(out, map[string]any{"name": name, "value": value})
	}
	ctr["env"] = out
}

// deployment is what the manifests deploy.
const (
	deployName    = "starter"
	containerName = "starter"
	appLabel      = "app.kubernetes.io/name=starter"
)
