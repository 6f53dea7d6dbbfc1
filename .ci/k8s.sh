#!/usr/bin/env bash
# The Kubernetes suite (e2e/kubernetes) on a local single-node cluster: a
# real kube-apiserver, controller-manager, scheduler, kubelet and kube-proxy
# (iptables) with etcd and containerd, all on this machine, built and run by
# the scripts in $K8S_LOCAL.
#
#   .ci/k8s.sh build        build the Kubernetes binaries (a no-op when they exist; ~18 min cold on 2 cores)
#   .ci/k8s.sh up           bring the cluster up (needs root)
#   .ci/k8s.sh test [ARGS]  down (leftovers), build, up, run the suite with
#                           LAMEDUCK_K8S=require and ARGS (e.g. -run Rollout), and down, always
#   .ci/k8s.sh down         tear the cluster down
#   .ci/k8s.sh env          print the variables the suite needs, for eval
#
# Knobs: K8S_LOCAL (the scripts; default ../shared/k8s-local beside the
# repository), K8S_DIR (binaries and state; default /tmp/k8s), and
# LAMEDUCK_K8S_REPORT (passed to the suite).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
K8S_LOCAL=${K8S_LOCAL:-$repo/../shared/k8s-local}
export K8S_DIR=${K8S_DIR:-/tmp/k8s}
export KUBECONFIG=${K8S_STATE:-$K8S_DIR/state}/admin.kubeconfig
export LAMEDUCK_K8S_KUBECTL=$K8S_DIR/bin/kubectl
export LAMEDUCK_K8S_LOAD_IMAGE="bash $K8S_LOCAL/image.sh"

[ -f "$K8S_LOCAL/up.sh" ] || { echo "k8s.sh: no cluster scripts in $K8S_LOCAL (set K8S_LOCAL)" >&2; exit 1; }

down() { bash "$K8S_LOCAL/down.sh"; }

case ${1:-} in
build) bash "$K8S_LOCAL/build.sh" ;;
up) bash "$K8S_LOCAL/up.sh" ;;
down) down ;;
env)
  printf 'export KUBECONFIG=%q LAMEDUCK_K8S_KUBECTL=%q LAMEDUCK_K8S_LOAD_IMAGE=%q\n' \
    "$KUBECONFIG" "$LAMEDUCK_K8S_KUBECTL" "$LAMEDUCK_K8S_LOAD_IMAGE"
  ;;
test)
  shift
  down >/dev/null 2>&1 || true # what a killed run left behind
  bash "$K8S_LOCAL/build.sh"
  trap 'down >/dev/null 2>&1 || down' EXIT
  bash "$K8S_LOCAL/up.sh"
  cd "$repo"
  LAMEDUCK_K8S=require go test -count=1 -v -timeout 20m "$@" ./e2e/kubernetes
  ;;
*)
  sed -n '2,17p' "$0" >&2
  exit 2
  ;;
esac
