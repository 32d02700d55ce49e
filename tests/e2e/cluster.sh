#!/usr/bin/env bash
# cluster.sh runs a throwaway control plane for the end-to-end tests as plain
# local processes on 127.0.0.1: etcd, kube-apiserver, redis, and Argo CD's
# repo-server, application-controller and API server (for its git webhook
# endpoint, /api/webhook), with the upstream Argo CD, TFJob and
# Knative Serving, KServe InferenceService, External Secrets (ExternalSecret),
# kops, Kubeflow Trainer v2 and Kueue CRDs installed. No Docker, no kubelet: objects are stored and
# validated, Argo CD syncs them, but no pod ever runs.
#
#   cluster.sh deps   install redis and prometheus (apt), build the tools (cached), download the CRDs
#   cluster.sh up     start everything (idempotent); writes $E2E_RUN/kubeconfig
#   cluster.sh down   stop every process by its recorded PID
#   cluster.sh logs   tail each component's log
#   cluster.sh env    print exports for the tests (eval "$(cluster.sh env)")
#   cluster.sh clean  down, then remove the run directory (state and logs)
#
# Every port can be overridden through the environment (see the defaults
# below). Processes are only ever stopped by the PID this script recorded,
# checked against the process start time so a recycled PID is never hit.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS="$ROOT/tests/e2e/tools"
CACHE=${E2E_CACHE_DIR:-"$ROOT/.cache/e2e"}
BIN="$CACHE/bin"
RUN=${E2E_RUN_DIR:-"$CACHE/run"}

# The Go toolchain the tools modules are built with: Argo CD 3.6 needs Go 1.27
# (go.mod says go 1.27.0), and go1.27.3 is the one the module proxy serves.
export GOTOOLCHAIN=${E2E_GOTOOLCHAIN:-go1.27.3}

# Versions. Changing one here (and in its tools module's go.mod) rebuilds
# that tool. Kubernetes is the minor of dmls's validation code (1.37); etcd
# is built too, because Debian's etcd-server (3.4.23) is older than the
# 3.5.24 that Kubernetes 1.37 supports. kustomize is the CLI that Argo CD
# 3.6's repo-server is built and tested with (its hack/tool-versions.sh).
K8S_VERSION=v1.37.2
ETCD_VERSION=v3.6.17
ARGOCD_VERSION=v3.6.2
KUSTOMIZE_VERSION=v5.8.3
TRAINING_OPERATOR_VERSION=v1.9.4
KNATIVE_SERVING_VERSION=v0.48.1
KSERVE_VERSION=v0.20.0
# v1.x serves external-secrets.io/v1 only (v1beta1 is no longer served);
# v0.16.2 served v1beta1 only.
EXTERNAL_SECRETS_VERSION=v1.3.2
KOPS_VERSION=v1.33.1
# Kubeflow Trainer v2 (TrainJob, training runtimes) and Kueue (queues), whose
# CRDs dmls checks offline (internal/admission) and this cluster serves.
TRAINER_VERSION=v2.3.0
KUEUE_VERSION=v0.19.2

# Ports: below the Linux ephemeral range (32768+) so that no outgoing
# connection can hold them, and away from the usual 2379/6379/6443/808x.
ETCD_PORT=${E2E_ETCD_PORT:-31379}
ETCD_PEER_PORT=${E2E_ETCD_PEER_PORT:-31380}
APISERVER_PORT=${E2E_APISERVER_PORT:-31443}
REDIS_PORT=${E2E_REDIS_PORT:-31637}
REPO_SERVER_PORT=${E2E_REPO_SERVER_PORT:-31081}
REPO_SERVER_METRICS_PORT=${E2E_REPO_SERVER_METRICS_PORT:-31084}
CONTROLLER_METRICS_PORT=${E2E_CONTROLLER_METRICS_PORT:-31082}
SERVER_PORT=${E2E_ARGOCD_SERVER_PORT:-31085}
SERVER_METRICS_PORT=${E2E_ARGOCD_SERVER_METRICS_PORT:-31086}

# How often the application controller re-reads git: Argo CD's default,
# so that the tests show that dmls's refresh after a push, not the poll,
# makes changes arrive in seconds.
APP_RESYNC_SECONDS=${E2E_APP_RESYNC_SECONDS:-180}

CONTEXT=dmls-e2e
FIELD_MANAGER=dmls-e2e
COMPONENTS=(etcd kube-apiserver redis argocd-repo-server argocd-application-controller argocd-server)

log() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- deps ----

# apt_install installs the Debian packages whose commands are missing.
apt_install() {
  local -a pkgs=()
  command -v redis-server >/dev/null || pkgs+=(redis-server)
  command -v redis-cli >/dev/null || pkgs+=(redis-tools)
  command -v git >/dev/null || pkgs+=(git)
  [ -x /usr/lib/git-core/git-http-backend ] || pkgs+=(git)
  command -v openssl >/dev/null || pkgs+=(openssl)
  command -v curl >/dev/null || pkgs+=(curl)
  command -v flock >/dev/null || pkgs+=(util-linux)
  # the release gates' tests query a real Prometheus (internal/gates/promtest);
  # the package's own service is not started here (no systemd, policy-rc.d)
  command -v prometheus >/dev/null || pkgs+=(prometheus)
  [ ${#pkgs[@]} -eq 0 ] && return 0
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "apt-get install ${pkgs[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
}

# stamp_key prints what a tool's cache is keyed on: its version, the Go
# toolchain, and the tools module's go.mod/go.sum when it has one.
stamp_key() {
  local version=$1 dir=${2:-}
  local sums=""
  [ -n "$dir" ] && sums=$(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -c1-16)
  printf '%s %s %s\n' "$version" "$(go env GOVERSION)" "$sums"
}

# cached NAME KEY BINARY... succeeds when every binary exists and the stamp matches.
cached() {
  local name=$1 key=$2
  shift 2
  local b
  for b in "$@"; do [ -x "$BIN/$b" ] || return 1; done
  [ "$(cat "$BIN/.stamp-$name" 2>/dev/null)" = "$key" ]
}

build_kube() {
  local key
  key=$(stamp_key "k8s.io/kubernetes@$K8S_VERSION" "$TOOLS/kube")
  if cached kube "$key" kube-apiserver kubectl; then
    log "kube-apiserver, kubectl $K8S_VERSION: cached"
    return 0
  fi
  log "building kube-apiserver, kubectl $K8S_VERSION (several minutes on 2 cores)"
  local minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  local ld="-s -w" pkg
  # What hack/lib/version.sh stamps, so /version reports a real version
  # (Argo CD reads it) instead of v0.0.0-master.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  rm -f "$BIN/.stamp-kube"
  (cd "$TOOLS/kube" && go build -trimpath -ldflags "$ld" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
  echo "$key" >"$BIN/.stamp-kube"
}

build_argocd() {
  local key
  key=$(stamp_key "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" "$TOOLS/argocd")
  if ! cached argocd "$key" argocd; then
    log "building argocd $ARGOCD_VERSION (several minutes on 2 cores)"
    rm -f "$BIN/.stamp-argocd"
    # The version as Argo CD's Makefile stamps it (its VERSION file has no
    # "v"): the binary then reports v3.6.2+unknown (no git commit in a module
    # zip) instead of v99.99.99+unknown, so logs tell which Argo CD ran.
    local pkg=github.com/argoproj/argo-cd/v3/common
    local kubectl_version
    kubectl_version=$(cd "$TOOLS/argocd" && go list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' k8s.io/kubectl)
    (cd "$TOOLS/argocd" && go build -trimpath \
      -ldflags "-s -w -X $pkg.version=${ARGOCD_VERSION#v} -X $pkg.gitTreeState=clean -X $pkg.kubectlVersion=$kubectl_version" \
      -o "$BIN/argocd" github.com/argoproj/argo-cd/v3/cmd)
    echo "$key" >"$BIN/.stamp-argocd"
  else
    log "argocd $ARGOCD_VERSION: cached"
  fi
  # The scripts Argo CD's image puts next to the binary (its Dockerfile
  # copies them to /usr/local/bin): since 3.5 the repo-server runs
  # git-verify-wrapper.sh on every manifest generation, and fails with
  # "permission denied" without it.
  local argo script
  argo=$(moddir github.com/argoproj/argo-cd/v3 "$ARGOCD_VERSION")
  for script in git-verify-wrapper.sh gpg-wrapper.sh; do
    install -m 0755 "$argo/hack/$script" "$BIN/$script"
  done
  # The multi-call binary picks its role from argv[0].
  local role
  for role in argocd-repo-server argocd-application-controller argocd-server argocd-git-ask-pass; do
    ln -sfn argocd "$BIN/$role"
  done
}

build_etcd() {
  local key
  key=$(stamp_key "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "$TOOLS/etcd")
  if cached etcd "$key" etcd; then
    log "etcd $ETCD_VERSION: cached"
    return 0
  fi
  log "building etcd $ETCD_VERSION"
  rm -f "$BIN/.stamp-etcd"
  (cd "$TOOLS/etcd" && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
  echo "$key" >"$BIN/.stamp-etcd"
}

build_kustomize() {
  local key
  key=$(stamp_key "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION")
  if cached kustomize "$key" kustomize; then
    log "kustomize $KUSTOMIZE_VERSION: cached"
    return 0
  fi
  log "building kustomize $KUSTOMIZE_VERSION"
  rm -f "$BIN/.stamp-kustomize"
  (cd "$TOOLS" && GOBIN="$BIN" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION")
  echo "$key" >"$BIN/.stamp-kustomize"
}

# timed CMD... runs CMD and logs how long it took (the cold build times CI sees).
timed() {
  local t0=$SECONDS
  "$@"
  log "$1 took $((SECONDS - t0))s"
}

cmd_deps() {
  command -v go >/dev/null || die "go is not on PATH"
  apt_install
  mkdir -p "$BIN"
  timed build_etcd
  timed build_kube
  timed build_argocd
  timed build_kustomize
  crd_files >/dev/null # downloads the modules that hold the CRDs, if needed
  log "deps ready in $BIN"
}

# ------------------------------------------------------------ processes ----

pidfile() { echo "$RUN/pids/$1.pid"; }
logfile() { echo "$RUN/logs/$1.log"; }

# proc_start PID prints the process start time (clock ticks since boot), which
# with the PID identifies a process for good; empty if it is gone or a zombie.
proc_start() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  rest=${stat##*) } # fields after "(comm)", which may hold spaces
  local -a f
  read -r -a f <<<"$rest"
  [ "${f[0]}" = Z ] && return 0 # a zombie is gone for our purposes
  echo "${f[19]}"               # field 22 of /proc/PID/stat: starttime
}

# running NAME succeeds if the process recorded for NAME is still alive.
running() {
  local f pid start
  f=$(pidfile "$1")
  [ -f "$f" ] || return 1
  read -r pid start <"$f" || return 1
  [ -n "$pid" ] && [ -n "$start" ] && [ "$(proc_start "$pid")" = "$start" ]
}

recorded_pid() { local pid _; read -r pid _ <"$(pidfile "$1")"; echo "$pid"; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

STARTED=()

# start NAME PORT CMD... runs CMD in the background unless NAME already runs.
start() {
  local name=$1 port=$2
  shift 2
  if running "$name"; then
    log "$name already running (pid $(recorded_pid "$name"))"
    return 0
  fi
  if port_busy "$port"; then
    die "$name: port $port on 127.0.0.1 is taken by another process (override it with the E2E_*_PORT variables)"
  fi
  local pid
  # 9>&-: the child must not inherit (and so hold) the lock of this script.
  nohup "$@" >"$(logfile "$name")" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid $(proc_start "$pid")" >"$(pidfile "$name")"
  STARTED+=("$name")
  log "started $name (pid $pid, port $port)"
}

# stop NAME sends TERM to NAME's recorded process, then KILL after 15s.
stop() {
  local name=$1 f pid
  f=$(pidfile "$name")
  [ -f "$f" ] || return 0
  if running "$name"; then
    pid=$(recorded_pid "$name")
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 150); do
      running "$name" || break
      sleep 0.1
    done
    if running "$name"; then
      log "$name did not stop after 15s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "$f"
}

# wait_for NAME SECONDS CMD... polls CMD until it succeeds; fails early if
# NAME's process exits.
wait_for() {
  local name=$1 timeout=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! running "$name"; then
      log "$name exited; last lines of $(logfile "$name"):"
      tail -n 40 "$(logfile "$name")" >&2 || true
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      log "$name not ready after ${timeout}s; last lines of $(logfile "$name"):"
      tail -n 40 "$(logfile "$name")" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  log "$name ready"
}

kubectl_() { "$BIN/kubectl" --kubeconfig "$RUN/kubeconfig" "$@"; }

# crd_files prints the upstream CRD manifests from the Go module cache.
crd_files() {
  local argo tfo kn ks eso kops tr kq
  argo=$(moddir github.com/argoproj/argo-cd/v3 "$ARGOCD_VERSION")
  ks=$(moddir github.com/kserve/kserve "$KSERVE_VERSION")
  eso=$(moddir github.com/external-secrets/external-secrets "$EXTERNAL_SECRETS_VERSION")
  kops=$(moddir k8s.io/kops "$KOPS_VERSION")
  tfo=$(moddir github.com/kubeflow/training-operator "$TRAINING_OPERATOR_VERSION")
  kn=$(moddir knative.dev/serving "$KNATIVE_SERVING_VERSION")
  tr=$(moddir github.com/kubeflow/trainer/v2 "$TRAINER_VERSION")
  kq=$(moddir sigs.k8s.io/kueue "$KUEUE_VERSION")
  printf '%s\n' \
    "$argo/manifests/crds/application-crd.yaml" \
    "$argo/manifests/crds/appproject-crd.yaml" \
    "$argo/manifests/crds/applicationset-crd.yaml" \
    "$tfo/manifests/base/crds/kubeflow.org_tfjobs.yaml" \
    "$kn/config/core/300-resources/service.yaml" \
    "$kn/config/core/300-resources/configuration.yaml" \
    "$kn/config/core/300-resources/revision.yaml" \
    "$kn/config/core/300-resources/route.yaml" \
    "$ks/config/crd/full/serving.kserve.io_inferenceservices.yaml" \
    "$eso/config/crds/bases/external-secrets.io_externalsecrets.yaml" \
    "$kops/k8s/crds/kops.k8s.io_clusters.yaml" \
    "$kops/k8s/crds/kops.k8s.io_instancegroups.yaml" \
    "$tr/manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml" \
    "$tr/manifests/base/crds/trainer.kubeflow.org_trainingruntimes.yaml" \
    "$tr/manifests/base/crds/trainer.kubeflow.org_clustertrainingruntimes.yaml" \
    "$kq/config/components/crd/bases/kueue.x-k8s.io_clusterqueues.yaml" \
    "$kq/config/components/crd/bases/kueue.x-k8s.io_localqueues.yaml" \
    "$kq/config/components/crd/bases/kueue.x-k8s.io_resourceflavors.yaml" \
    "$kq/config/components/crd/bases/kueue.x-k8s.io_workloadpriorityclasses.yaml" \
    "$kq/config/components/crd/bases/kueue.x-k8s.io_workloads.yaml"
}

# moddir MODULE VERSION prints the module's directory in the module cache,
# downloading it first if needed (outside any module, so no go.mod is touched).
moddir() {
  local dir
  dir="$(go env GOMODCACHE)/$1@$2"
  if [ ! -d "$dir" ]; then
    (cd / && go mod download "$1@$2") >&2
  fi
  [ -d "$dir" ] || die "module $1@$2 not found in the module cache"
  echo "$dir"
}

write_kubeconfig() {
  local ca tmp
  ca=$(base64 -w0 <"$RUN/apiserver/certs/apiserver.crt")
  tmp="$RUN/kubeconfig.tmp"
  cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $CONTEXT
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $ca
users:
- name: admin
  user:
    token: $(cut -d, -f1 "$RUN/apiserver/tokens.csv")
contexts:
- name: $CONTEXT
  context:
    cluster: $CONTEXT
    user: admin
current-context: $CONTEXT
EOF
  chmod 600 "$tmp"
  mv "$tmp" "$RUN/kubeconfig"
}

apiserver_ready() {
  curl -fsS -k -H "Authorization: Bearer $(cut -d, -f1 "$RUN/apiserver/tokens.csv")" \
    "https://127.0.0.1:$APISERVER_PORT/readyz"
}

# What argocd-server would create and the controller needs: its namespace,
# settings, and the default AppProject.
argocd_settings() {
  cat <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: argocd
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/part-of: argocd
data:
  # The TFJob health check is not here: dmls publishes it (argocd/shared),
  # and the tests check that the published one is in effect. Poll git
  # often, so that tests see new commits quickly.
  timeout.reconciliation: 10s
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-rbac-cm
  namespace: argocd
  labels:
    app.kubernetes.io/part-of: argocd
---
apiVersion: v1
kind: Secret
metadata:
  name: argocd-secret
  namespace: argocd
  labels:
    app.kubernetes.io/part-of: argocd
stringData:
  server.secretkey: $(cat "$RUN/argocd/server.secretkey")
  # The shared secret of GitHub push events to /api/webhook (dmls's
  # argocd.refresh.webhook signs with it).
  webhook.github.secret: $(cat "$RUN/argocd/webhook.secret")
  # The admin account, for the tests' reads of the API server (Argo CD 3
  # keeps each resource's health in the resource tree, not in the
  # Application's status).
  admin.password: $(cat "$RUN/argocd/admin.bcrypt")
  admin.passwordMtime: "1970-01-01T00:00:00Z"
EOF
}

default_project() {
  cat <<EOF
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: default
  namespace: argocd
spec:
  sourceRepos: ["*"]
  destinations:
  - server: "*"
    namespace: "*"
  clusterResourceWhitelist:
  - group: "*"
    kind: "*"
EOF
}

# on_up_exit stops what this `up` started if it failed midway.
on_up_exit() {
  local rc=$?
  [ $rc -eq 0 ] && return 0
  log "up failed (exit $rc); stopping what it started: ${STARTED[*]:-nothing}"
  local i
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
    stop "${STARTED[$i]}" || true
  done
  exit $rc
}

cmd_up() {
  local b
  for b in etcd kube-apiserver kubectl argocd git-verify-wrapper.sh kustomize; do
    [ -x "$BIN/$b" ] || die "$BIN/$b is missing: run '$0 deps' first"
  done
  if ! command -v redis-server >/dev/null; then
    die "redis-server is missing: run '$0 deps' first"
  fi
  mkdir -p "$RUN"/{pids,logs,apiserver/certs,redis,argocd/gnupg,argocd/tmp,argocd/home,argocd/tls,argocd/ssh}
  exec 9>"$RUN/.lock"
  flock 9
  trap on_up_exit EXIT
  local t0=$SECONDS

  # Secrets of this throwaway cluster, made once per run directory.
  [ -f "$RUN/apiserver/tokens.csv" ] ||
    echo "$(openssl rand -hex 24),admin,admin,system:masters" >"$RUN/apiserver/tokens.csv"
  [ -f "$RUN/apiserver/sa.key" ] ||
    openssl genrsa -out "$RUN/apiserver/sa.key" 2048 2>/dev/null
  [ -f "$RUN/argocd/server.secretkey" ] || openssl rand -hex 32 >"$RUN/argocd/server.secretkey"
  [ -f "$RUN/argocd/webhook.secret" ] || openssl rand -hex 24 >"$RUN/argocd/webhook.secret"
  chmod 600 "$RUN/argocd/webhook.secret"
  if [ ! -f "$RUN/argocd/admin.bcrypt" ]; then
    (umask 077 && openssl rand -hex 24 >"$RUN/argocd/admin.password")
    # The password goes in on stdin, so it is on no command line; the
    # command prints a "Password: " prompt before the hash.
    ARGOCD_BINARY_NAME=argocd "$BIN/argocd" account bcrypt <"$RUN/argocd/admin.password" |
      grep -o '\$2[aby]\$[0-9][0-9]\$[./A-Za-z0-9]\{53\}' >"$RUN/argocd/admin.bcrypt.tmp"
    mv "$RUN/argocd/admin.bcrypt.tmp" "$RUN/argocd/admin.bcrypt"
  fi
  chmod 700 "$RUN/apiserver" "$RUN/argocd/gnupg"

  if ! running etcd; then
    rm -rf "$RUN/etcd" # a fresh etcd is a fresh, empty cluster
    start etcd "$ETCD_PORT" "$BIN/etcd" --name "$CONTEXT" --data-dir "$RUN/etcd" \
      --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-cluster "$CONTEXT=http://127.0.0.1:$ETCD_PEER_PORT" \
      --logger zap --log-outputs stderr
  fi
  wait_for etcd 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  start kube-apiserver "$APISERVER_PORT" "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$APISERVER_PORT" \
    --cert-dir "$RUN/apiserver/certs" \
    --token-auth-file "$RUN/apiserver/tokens.csv" \
    --authorization-mode RBAC \
    --service-cluster-ip-range 10.0.0.0/24 \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$RUN/apiserver/sa.key" \
    --service-account-signing-key-file "$RUN/apiserver/sa.key" \
    --endpoint-reconciler-type none \
    --enable-priority-and-fairness=false \
    --profiling=false
  # Redis does not need the API server; start it while the API server boots.
  start redis "$REDIS_PORT" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
    --save "" --appendonly no --dir "$RUN/redis" --daemonize no
  wait_for kube-apiserver 180 apiserver_ready
  write_kubeconfig
  wait_for redis 30 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping

  log "installing CRDs"
  local -a files=()
  mapfile -t files < <(crd_files)
  local f
  for f in "${files[@]}"; do
    case "$f" in
      */k8s.io/kops@*)
        # kops.k8s.io is a protected API group (*.k8s.io) and kops's CRDs carry
        # no approval annotation: the API server refuses them without one. kops
        # keeps these objects in its state store, not in a cluster; they are
        # installed here for server-side dry runs only.
        sed 's#^  annotations:$#  annotations:\n    api-approved.kubernetes.io: "unapproved, installed for dmls dry runs"#' "$f" |
          kubectl_ apply --server-side --force-conflicts --field-manager "$FIELD_MANAGER" -f - >/dev/null
        ;;
      *) kubectl_ apply --server-side --force-conflicts --field-manager "$FIELD_MANAGER" -f "$f" >/dev/null ;;
    esac
  done
  kubectl_ wait --for condition=Established --timeout 60s crd --all >/dev/null
  argocd_settings | kubectl_ apply --server-side --force-conflicts --field-manager "$FIELD_MANAGER" -f - >/dev/null
  default_project | kubectl_ apply --server-side --force-conflicts --field-manager "$FIELD_MANAGER" -f - >/dev/null
  log "CRDs established, argocd namespace configured"

  # The unix socket for git credentials must fit in 108 bytes.
  local askpass="$RUN/argocd/askpass.sock"
  [ ${#askpass} -lt 100 ] || askpass="/tmp/dmls-e2e-askpass-$(id -u).sock"
  local -a argocd_env=(
    env "PATH=$BIN:$PATH"
    "KUBECONFIG=$RUN/kubeconfig"
    ARGOCD_FAKE_IN_CLUSTER=true
    ARGOCD_GPG_ENABLED=false
    "ARGOCD_GNUPGHOME=$RUN/argocd/gnupg"
    "ARGOCD_TLS_DATA_PATH=$RUN/argocd/tls"
    "ARGOCD_SSH_DATA_PATH=$RUN/argocd/ssh"
    "ARGOCD_ASK_PASS_SOCK=$askpass"
    "TMPDIR=$RUN/argocd/tmp"
    "HOME=$RUN/argocd/home"
  )
  # --client-ca-path "": since 3.5 the repo-server defaults it to the path
  # of a mounted Secret (mTLS) and refuses it together with --disable-tls.
  start argocd-repo-server "$REPO_SERVER_PORT" "${argocd_env[@]}" "$BIN/argocd-repo-server" \
    --address 127.0.0.1 --port "$REPO_SERVER_PORT" \
    --metrics-address 127.0.0.1 --metrics-port "$REPO_SERVER_METRICS_PORT" \
    --disable-tls --redis "127.0.0.1:$REDIS_PORT" \
    --client-ca-path ""
  wait_for argocd-repo-server 90 curl -fsS "http://127.0.0.1:$REPO_SERVER_METRICS_PORT/healthz"

  start argocd-application-controller "$CONTROLLER_METRICS_PORT" "${argocd_env[@]}" \
    "$BIN/argocd-application-controller" \
    --namespace argocd --redis "127.0.0.1:$REDIS_PORT" \
    --repo-server "127.0.0.1:$REPO_SERVER_PORT" --repo-server-plaintext \
    --metrics-port "$CONTROLLER_METRICS_PORT" \
    --app-resync "$APP_RESYNC_SECONDS"
  wait_for argocd-application-controller 90 curl -fsS "http://127.0.0.1:$CONTROLLER_METRICS_PORT/healthz"

  # The API server only for its git webhook endpoint: no TLS, no UI assets,
  # no Dex. It reads webhook.github.secret from argocd-secret.
  mkdir -p "$RUN/argocd/static"
  start argocd-server "$SERVER_PORT" "${argocd_env[@]}" "$BIN/argocd-server" \
    --namespace argocd --insecure --address 127.0.0.1 --port "$SERVER_PORT" \
    --metrics-address 127.0.0.1 --metrics-port "$SERVER_METRICS_PORT" --staticassets "$RUN/argocd/static" \
    --redis "127.0.0.1:$REDIS_PORT" \
    --repo-server "127.0.0.1:$REPO_SERVER_PORT" --repo-server-plaintext
  wait_for argocd-server 90 curl -fsS "http://127.0.0.1:$SERVER_PORT/healthz"

  trap - EXIT
  log "cluster up in $((SECONDS - t0))s; KUBECONFIG=$RUN/kubeconfig"
}

cmd_down() {
  [ -d "$RUN/pids" ] || return 0
  exec 9>"$RUN/.lock"
  flock 9
  local i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    stop "${COMPONENTS[$i]}"
  done
  log "down"
}

cmd_logs() {
  local name f
  for name in "${COMPONENTS[@]}"; do
    f=$(logfile "$name")
    [ -f "$f" ] || continue
    local state=stopped
    running "$name" && state="running, pid $(recorded_pid "$name")"
    printf '===== %s (%s): last %s lines of %s =====\n' "$name" "$state" "${E2E_LOG_LINES:-60}" "$f"
    tail -n "${E2E_LOG_LINES:-60}" "$f"
  done
}

cmd_env() {
  cat <<EOF
export KUBECONFIG=$RUN/kubeconfig
export PATH=$BIN:\$PATH
export E2E_BIN=$BIN
export E2E_RUN_DIR=$RUN
export E2E_ARGOCD_NAMESPACE=argocd
export E2E_APISERVER_PORT=$APISERVER_PORT
export E2E_REDIS_PORT=$REDIS_PORT
export E2E_REPO_SERVER_PORT=$REPO_SERVER_PORT
export E2E_APP_RESYNC_SECONDS=$APP_RESYNC_SECONDS
export E2E_ARGOCD_WEBHOOK_URL=http://127.0.0.1:$SERVER_PORT/api/webhook
export E2E_ARGOCD_WEBHOOK_SECRET_FILE=$RUN/argocd/webhook.secret
export E2E_ARGOCD_SERVER_URL=http://127.0.0.1:$SERVER_PORT
export E2E_ARGOCD_ADMIN_PASSWORD_FILE=$RUN/argocd/admin.password
# The modules whose CRDs up installs (TestClientSideApplyLimit reads them
# from the module cache).
export E2E_MODULE_ARGOCD=github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION
export E2E_MODULE_TRAINING_OPERATOR=github.com/kubeflow/training-operator@$TRAINING_OPERATOR_VERSION
export E2E_MODULE_KNATIVE_SERVING=knative.dev/serving@$KNATIVE_SERVING_VERSION
export E2E_MODULE_KSERVE=github.com/kserve/kserve@$KSERVE_VERSION
EOF
}

cmd_clean() {
  cmd_down
  rm -rf "$RUN"
}

case "${1:-}" in
deps) cmd_deps ;;
up) cmd_up ;;
down) cmd_down ;;
logs) cmd_logs ;;
env) cmd_env ;;
clean) cmd_clean ;;
*)
  echo "usage: $0 deps|up|down|logs|env|clean" >&2
  exit 2
  ;;
esac
