// Package kubernetes is lameduck's proof on a real Kubernetes cluster: it
// builds examples/starter and the naive replica (e2e/internal/naive) as
// static binaries, loads them as images, deploys each with the manifests of
// examples/kubernetes (only the image, its pull policy and the replica count
// patched), rolls the Deployment with `kubectl rollout restart` and an image
// change while clients send HTTP/1 and h2c requests, hold WebSockets and post
// background jobs through the Service's ClusterIP (kube-proxy's rules), and
// counts every request, message and job.
//
// The package has no API: its tests are the suite. They run against the
// cluster of KUBECONFIG, from a machine that routes ClusterIPs and pod IPs
// (a node of the cluster), and skip when there is none; see
// docs/kubernetes.md ("Measured on a real cluster") for the knobs, the
// numbers and the command that reproduces them.
package kubernetes
