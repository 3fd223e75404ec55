#!/usr/bin/env bash
# The test command (README, .ci/run). Installs what the tests need, builds the workspace, starts a
# real Kafka-protocol broker (tansu 0.6.0, run by `zeal broker`) and a real ClickHouse (Debian's 18.16) on free loopback ports with their
# data in a temporary directory, runs the suite against them, and stops both however it ends.
#
#   bash tests/run.sh                  cargo fmt --check, fastavro schema check, cargo test --workspace
#                                      --no-fail-fast (one failure does not hide the others), then
#                                      tests/fuzz.sh: each fuzz target ZEAL_FUZZ_SECS (20) seconds;
#                                      cargo clippy --all-targets -D warnings and the fuzz targets'
#                                      build beside them (nice 19). Under CI=true the whole run
#                                      ends within ZEAL_RUN_BUDGET (5100) seconds: a hung test is
#                                      stopped and named, fuzzing skipped (and said) if no time is left
#   bash tests/run.sh -- CMD [ARG...]  run CMD instead, with the services up and ZEAL_TEST_* set
#   bash tests/run.sh --keep           start the services, print their variables, leave them running
#   bash tests/run.sh --stop DIR       stop services left by --keep (DIR is ZEAL_TEST_SERVICES_DIR)
#   KEEP=1 bash tests/run.sh ...       stop the services but keep their directory (logs, data)
#
# Exported to the command: ZEAL_TEST_KAFKA_BOOTSTRAP, ZEAL_TEST_CLICKHOUSE_URL (HTTP),
# ZEAL_TEST_CLICKHOUSE_HTTPS_URL and ZEAL_TEST_CLICKHOUSE_CA (HTTPS, the run's own CA),
# ZEAL_TEST_TLS_CERT / _KEY (that CA's certificate for 127.0.0.1, for any TLS endpoint a test
# makes), ZEAL_TEST_STUNNEL (TLS in front of a test's own broker),
# ZEAL_TEST_CLICKHOUSE_TCP_PORT (native), ZEAL_TEST_CLICKHOUSE_USER / _PASSWORD (admin),
# ZEAL_TEST_CLICKHOUSE_CLUSTER_URLS (the two replicas of cluster `zeal`, HTTP, comma-separated;
# their directories clickhouse-r1, -r2 and ZooKeeper's zookeeper in ZEAL_TEST_SERVICES_DIR),
# ZEAL_TEST_CLICKHOUSE_READER_USER / _PASSWORD (readonly=1), ZEAL_TEST_TANSU_BIN,
# ZEAL_TEST_TANSU_DIR (the broker's working directory), ZEAL_TEST_TANSU_STORAGE (its sqlite URL,
# relative to that directory), ZEAL_TEST_TANSU_PID, ZEAL_TEST_SERVICES_DIR, ZEAL_TEST_PYTHON,
# ZEAL_TEST_CHROMIUM (headless browser for tests/src/browser.rs), ZEAL_TEST_AXE (axe-core's
# axe.min.js, the accessibility check injected into it), ZEAL_TEST_PROMETHEUS (the
# prometheus binary; pipeline/zeal/tests/dashboards.rs starts its own).
# Tests that restart the broker (tests/src/broker.rs) start `$ZEAL_TEST_TANSU_BIN broker` with the
# same three flags as below, in ZEAL_TEST_TANSU_DIR, and write its pid to
# $ZEAL_TEST_SERVICES_DIR/tansu.pid; this script stops that one too.
#
# First run needs root on Debian bookworm (apt-get: ClickHouse, Chromium, Prometheus, stunnel,
# OpenSSL headers, GMP, python3-venv);
# later runs reuse everything (~/.cache/zebra-zeal/venv; the build in target/). The broker is
# `zeal broker` from this build (tansu 0.6, as `zeal demo` embeds it). Non-interactive: fine
# under CI=true with no stdin. Exit status: the test command's.
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

MODE=suite
STOP_DIR=""
while [ $# -gt 0 ]; do
  case $1 in
    --) shift; [ $# -gt 0 ] || { usage >&2; exit 2; }; MODE="command"; break ;;
    --keep) MODE=keep; shift ;;
    --stop) [ $# -ge 2 ] || { usage >&2; exit 2; }; MODE=stop; STOP_DIR=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'tests/run.sh: unknown argument %s\n\n' "$1" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
REPO=$(pwd)
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# A CI build starts from nothing and is thrown away: incremental state only costs time and disk.
[ -n "${CI:-}" ] && export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/zebra-zeal"
FASTAVRO_VERSION=1.13.1
AXE_VERSION=4.10.3
PYYAML_VERSION=6.0.2
# CI stops a run at 90 minutes and prints nothing of why. Under CI=true the run ends itself first:
# after ZEAL_RUN_BUDGET seconds from its start (5100, 85 min) it stops a test command still
# running (the log above then names the test: libtest reports any test running over 60 s) and
# skips what it has no time left for, saying so. 0 (the default without CI): no budget.
BUDGET=${ZEAL_RUN_BUDGET:-$([ -n "${CI:-}" ] && echo 5100 || echo 0)}
case $BUDGET in '' | *[!0-9]*) printf 'tests/run.sh: ZEAL_RUN_BUDGET must be a number of seconds\n' >&2; exit 2 ;; esac
left() { echo $((BUDGET - SECONDS)); } # seconds left of the budget (meaningless when BUDGET=0)
# Debian's python (not a pyenv shim that may change per directory); fallback: whatever is on PATH.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# Each line carries the time since the run started (h:mm:ss): a CI log then shows where time went.
say() { printf '==> %d:%02d:%02d %s\n' $((SECONDS / 3600)) $((SECONDS / 60 % 60)) $((SECONDS % 60)) "$*" >&2; }
die() { printf 'tests/run.sh: error: %s\n' "$*" >&2; exit 1; }
now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); } # EPOCHREALTIME: bash >= 5
since() { local ms=$(($(now_ms) - $1)); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }

# --- processes (/proc only: procps is not installed everywhere) --------------------------------
alive() { # pid: running and not a zombie
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
  local stat
  stat=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "${stat%% *}" != Z ]
}
start_time() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
ours() { # pid dir: a service of the run in dir (guards against a reused pid)
  local cwd
  cwd=$(readlink "/proc/$1/cwd" 2>/dev/null) || return 1
  case $cwd/ in "$2"/*) return 0 ;; esac
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$2/"
}
stop_services() { # dir: SIGTERM every service started there, SIGKILL what is left after 10 s
  local dir=$1 f pid pids=()
  for f in "$dir/tansu.pid" "$dir/tansu/pid" "$dir/clickhouse/pid" "$dir/clickhouse-r1/pid" \
    "$dir/clickhouse-r2/pid" "$dir/zookeeper/pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if alive "$pid" && ours "$pid" "$dir"; then pids+=("$pid"); fi
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 100); do
    local left=()
    for pid in "${pids[@]}"; do alive "$pid" && left+=("$pid"); done
    [ ${#left[@]} -gt 0 ] || return 0
    sleep 0.1
  done
  kill -KILL "${left[@]}" 2>/dev/null || true
}

if [ "$MODE" = stop ]; then
  STOP_DIR=$(cd "$STOP_DIR" && pwd) || die "no directory $STOP_DIR"
  [ -f "$STOP_DIR/owner" ] || die "$STOP_DIR is not a tests/run.sh services directory"
  stop_services "$STOP_DIR"
  rm -rf "$STOP_DIR"
  say "stopped the services of $STOP_DIR"
  exit 0
fi

# --- install what is missing (and nothing else) ------------------------------------------------
mkdir -p "$CACHE"
# Two runs on one machine must not both apt-get or cargo install: the second waits.
exec 9>"$CACHE/install.lock"
if ! flock -n 9; then say "another tests/run.sh is installing; waiting"; flock 9; fi

apt_packages=()
command -v clickhouse-server >/dev/null || apt_packages+=(clickhouse-server)
command -v clickhouse-client >/dev/null || apt_packages+=(clickhouse-client)
[ -f /usr/share/java/zookeeper.jar ] || apt_packages+=(zookeeper) # the test ClickHouse cluster's coordinator (brings Java)
command -v curl >/dev/null || apt_packages+=(curl)
command -v cc >/dev/null && command -v make >/dev/null || apt_packages+=(build-essential)
command -v pkg-config >/dev/null || apt_packages+=(pkg-config)
command -v chromium >/dev/null || apt_packages+=(chromium) # headless browser: the web app's end-to-end test
command -v prometheus >/dev/null || apt_packages+=(prometheus) # the dashboards' PromQL runs against it
command -v npm >/dev/null || apt_packages+=(npm) # axe-core from the npm registry: the pages' accessibility check
command -v stunnel4 >/dev/null || apt_packages+=(stunnel4) # TLS in front of a test broker (tansu has none)
dpkg -s libssl-dev >/dev/null 2>&1 || apt_packages+=(libssl-dev) # rdkafka's ssl feature (librdkafka on OpenSSL)
dpkg -s libgmp-dev >/dev/null 2>&1 || apt_packages+=(libgmp-dev) # rug links the system GMP
[ -x "$PY" ] || { apt_packages+=(python3); PY=/usr/bin/python3; }
"$PY" -c 'import ensurepip, venv' 2>/dev/null || apt_packages+=(python3-venv) # python3 -m venv
if [ ${#apt_packages[@]} -gt 0 ]; then
  say "installing ${apt_packages[*]} (apt-get)"
  [ "$(id -u)" = 0 ] || die "installing packages needs root: apt-get install ${apt_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_get() { apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 -qq "$@"; }
  apt_get update
  apt_get install -y --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

# Python with fastavro, an Avro implementation independent of the Rust one (tests/avro_check.py).
VENV="$CACHE/venv"
# PyYAML: pipeline/zeal/tests/compose.rs reads docker-compose.yml with it.
if ! "$VENV/bin/python" -c "import sys, fastavro, yaml; sys.exit(fastavro.__version__ != '$FASTAVRO_VERSION' or yaml.__version__ != '$PYYAML_VERSION')" 2>/dev/null; then
  say "python venv $VENV with fastavro $FASTAVRO_VERSION and PyYAML $PYYAML_VERSION (PyPI)"
  "$PY" -m venv --clear "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-input "fastavro==$FASTAVRO_VERSION" "PyYAML==$PYYAML_VERSION"
fi
export ZEAL_TEST_PYTHON="$VENV/bin/python"
# axe-core (npm registry), which the browser tests inject into Chromium to check every page.
AXE_DIR="$CACHE/axe-core-$AXE_VERSION"
if [ ! -s "$AXE_DIR/axe.min.js" ]; then
  say "axe-core $AXE_VERSION (npm registry)"
  axe_tmp=$(mktemp -d)
  (cd "$axe_tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null) \
    || die "npm pack axe-core@$AXE_VERSION failed"
  tar -xzf "$axe_tmp/axe-core-$AXE_VERSION.tgz" -C "$axe_tmp"
  mkdir -p "$AXE_DIR" && cp "$axe_tmp/package/axe.min.js" "$AXE_DIR/axe.min.js"
  rm -rf "$axe_tmp"
fi
export ZEAL_TEST_AXE="$AXE_DIR/axe.min.js"
# Debian's /usr/bin/chromium is a sh wrapper whose /etc/chromium.d scripts break where findmnt
# lists /dev/shm twice (`[: …: unexpected operator`) and add extension flags; the test passes
# its own flags, so it runs the browser binary itself when it is there.
if [ -x /usr/lib/chromium/chromium ]; then
  ZEAL_TEST_CHROMIUM=/usr/lib/chromium/chromium
else
  ZEAL_TEST_CHROMIUM=$(command -v chromium) || die "chromium is not on PATH after installing it"
fi
export ZEAL_TEST_CHROMIUM
# Chromium's first start on a machine builds its caches (fonts, the profile) and can take longer
# than a test waits; one start here makes the tests' starts the warm ones.
start=$SECONDS
profile=$(mktemp -d)
if timeout 180 "$ZEAL_TEST_CHROMIUM" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
  --no-first-run --user-data-dir="$profile" --dump-dom about:blank >/dev/null 2>&1; then
  say "chromium started once in $((SECONDS - start))s ($ZEAL_TEST_CHROMIUM)"
else
  say "warning: chromium did not start within 180s ($ZEAL_TEST_CHROMIUM); the browser tests will say why"
fi
rm -rf "$profile"
flock -u 9
exec 9>&-

# --- checks that need no services (fail fast) --------------------------------------------------
if [ "$MODE" = suite ]; then
  if ! cargo fmt --version >/dev/null 2>&1; then
    say "adding rustfmt (rustup component)"
    rustup component add rustfmt
  fi
  say "cargo fmt --all -- --check"
  cargo fmt --all -- --check
  if [ -f tests/avro_check.py ]; then
    out=$("$ZEAL_TEST_PYTHON" tests/avro_check.py "$REPO/schemas" 2>&1) \
      || { printf '%s\n' "$out" >&2; die "schemas: fastavro check failed"; }
    say "schemas through fastavro: ${out##*$'\n'}"
  fi
fi

# --- build (before the services start: they would idle through a cold build) ------------------
# The broker is tansu 0.6's, run by `zeal broker` (connectors/embedded, the broker `zeal demo`
# embeds): the workspace compiles tansu anyway, so a separate `cargo install tansu` (~15 min cold
# on 2 cores) would compile it twice.
locked=()
[ -f Cargo.lock ] && locked=(--locked)
say "building the workspace and its tests (cargo test --workspace --no-run; cold ~20 min on 2 cores)"
start=$SECONDS
# In its own process group, waited for, so that a SIGTERM or SIGINT stops it at once.
if [ -t 0 ]; then
  cargo test --workspace --no-run "${locked[@]}" || die "the build failed"
else
  setsid cargo test --workspace --no-run "${locked[@]}" &
  BUILD_PID=$!
  trap 'kill -TERM -- "-$BUILD_PID" 2>/dev/null; exit 143' TERM
  trap 'kill -TERM -- "-$BUILD_PID" 2>/dev/null; exit 130' INT
  wait "$BUILD_PID" || die "the build failed"
  trap - TERM INT
fi
say "built in $((SECONDS - start))s"
TANSU="${CARGO_TARGET_DIR:-$REPO/target}/debug/zeal"
[ -x "$TANSU" ] || die "no broker binary at $TANSU after the build"

# --- clippy, beside the tests -------------------------------------------------------------------
# `cargo clippy --all-targets -D warnings` in its own target directory (target/clippy: the test
# build holds target/'s lock while the tests run) at the lowest priority: it takes the CPU the
# tests leave idle while they wait on protocol timers and the fuzzers leave on the second core,
# and yields to them otherwise (nice 19). Its verdict is the run's too (waited for at the end).
CLIPPY_PID=""
CLIPPY_LOG=""
if [ "$MODE" = suite ]; then
  cargo clippy --version >/dev/null 2>&1 || { say "adding clippy (rustup component)"; rustup component add clippy; }
  CLIPPY_LOG=$(mktemp "${TMPDIR:-/tmp}/zeal-clippy.XXXXXX")
  say "cargo clippy --workspace --all-targets -- -D warnings (in the background, nice 19; its verdict at the end)"
  CLIPPY_START=$SECONDS
  CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}/clippy" setsid nice -n 19 \
    cargo clippy -q --workspace --all-targets "${locked[@]}" -- -D warnings >"$CLIPPY_LOG" 2>&1 &
  CLIPPY_PID=$!
fi

# --- the fuzz targets' build, beside the tests too ------------------------------------------------
# cargo-fuzz's install (~2 min) and the nightly sanitizer build (~10 min cold) need no service:
# they run now at nice 19 like clippy, and the fuzzing itself after the tests finds them built.
FUZZ_BUILD_PID=""
FUZZ_BUILD_LOG=""
if [ "$MODE" = suite ] && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  FUZZ_BUILD_LOG=$(mktemp "${TMPDIR:-/tmp}/zeal-fuzz-build.XXXXXX")
  say "building the fuzz targets (tests/fuzz.sh --build-only, in the background, nice 19)"
  setsid nice -n 19 bash tests/fuzz.sh --build-only >"$FUZZ_BUILD_LOG" 2>&1 &
  FUZZ_BUILD_PID=$!
fi

# wait_budget pid: wait for a job in its own process group, but not past the budget. Then its
# group is stopped (TERM, KILL 15 s later) and the status is 124. Prints nothing; callers report.
wait_budget() {
  while [ "$BUDGET" -gt 0 ] && alive "$1"; do
    if [ "$(left)" -le 0 ]; then
      kill -TERM -- "-$1" 2>/dev/null || true
      for _ in $(seq 15); do alive "$1" && sleep 1; done
      kill -KILL -- "-$1" 2>/dev/null || true
      wait "$1" 2>/dev/null || true
      return 124
    fi
    sleep 1
  done
  wait "$1"
}

# --- start the services ------------------------------------------------------------------------
BASE="${TMPDIR:-/tmp}"
# Services of a run that was SIGKILLed (no trap ran) are stopped here: each run records its
# owner (pid and start time); dirs of KEEP=1 or --keep runs are left alone.
for d in "$BASE"/zeal-services.*; do
  if ! { [ -d "$d" ] && [ -O "$d" ] && [ -f "$d/owner" ] && [ ! -e "$d/kept" ]; }; then continue; fi
  read -r opid ostart <"$d/owner" || continue
  if alive "$opid" && [ "$(start_time "$opid")" = "$ostart" ]; then continue; fi
  say "stopping leftovers of an interrupted run ($d)"
  if [ -f "$d/command.pid" ]; then # its command ran in its own process group (run below)
    cpid=$(cat "$d/command.pid")
    if alive "$cpid" && [ "$(sed 's/^.*) //' "/proc/$cpid/stat" | cut -d' ' -f3)" = "$cpid" ]; then
      kill -TERM -- "-$cpid" 2>/dev/null || true
    fi
  fi
  stop_services "$d"
  rm -rf "$d"
done

DIR=$(mktemp -d "$BASE/zeal-services.XXXXXX")
echo "$$ $(start_time $$)" >"$DIR/owner"
CMD_PID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local code=$? t
  trap - EXIT INT TERM
  t=$(now_ms)
  if [ -n "$CMD_PID" ] && alive "$CMD_PID"; then kill -TERM -- "-$CMD_PID" 2>/dev/null || true; fi
  if [ -n "$CLIPPY_PID" ] && alive "$CLIPPY_PID"; then kill -TERM -- "-$CLIPPY_PID" 2>/dev/null || true; fi
  if [ -n "$FUZZ_BUILD_PID" ] && alive "$FUZZ_BUILD_PID"; then kill -TERM -- "-$FUZZ_BUILD_PID" 2>/dev/null || true; fi
  [ -z "$CLIPPY_LOG" ] || rm -f "$CLIPPY_LOG"
  [ -z "$FUZZ_BUILD_LOG" ] || rm -f "$FUZZ_BUILD_LOG"
  if [ "$code" != 0 ] && [ -n "${CI:-}" ]; then show_logs 30; fi
  stop_services "$DIR"
  if [ -n "${KEEP:-}" ]; then touch "$DIR/kept"; say "kept $DIR"; else rm -rf "$DIR"; fi
  say "services stopped in $(since "$t"); exit status $code"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() { # lines
  local f
  for f in "$DIR/clickhouse/stdout.log" "$DIR/clickhouse/clickhouse-server.err.log" \
    "$DIR/tansu/tansu.log" "$DIR/tansu/tansu-restarted.log"; do
    [ -s "$f" ] || continue
    printf -- '--- last %s lines of %s\n' "$1" "$f" >&2
    tail -n "$1" "$f" >&2
  done
}

# Free ports below the ephemeral range (32768-60999 on Linux): a client connecting out (say,
# reconnecting while a test restarts the broker) never gets one of them as its own port, so it
# can neither block the restart nor connect to itself. All are held until all are chosen.
free_ports() { # count
  "$PY" - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
pool = list(range(10000, lo)) if lo > 10100 else list(range(hi + 1, 65536))
random.shuffle(pool)
held = []
for port in pool + [0] * n:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    held.append(s)
    if len(held) == n:
        break
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}

# Each probe gets 5 s: a service that accepts a connection and never answers (a wedged JVM, a
# port another process took) must end in this function's time-out and a message, not in a run
# that waits until CI kills it without a word (CI on 2026-12-07 did; the last line it printed was
# "clickhouse ... up", the next step is ZooKeeper's).
wait_up() { # pid seconds command...: 0 once command succeeds, 1 if pid exits, 2 on timeout
  local pid=$1 deadline=$((SECONDS + $2))
  shift 2
  while [ $SECONDS -lt $deadline ]; do
    if timeout -k 1 5 "$@" >/dev/null 2>&1; then return 0; fi
    alive "$pid" || return 1
    sleep 0.1
  done
  return 2
}

# ClickHouse 18.16 (Debian): the configs in tests/services/clickhouse (root element <yandex>),
# loopback only, HTTP + native ports only, every path under $DIR/clickhouse. Runs as root as is.
CH="$DIR/clickhouse"
mkdir -p "$CH"/{data,tmp,user_files,format_schemas}
# HTTPS beside HTTP: a CA made for this run signs the server's certificate for 127.0.0.1; the
# tests trust it through SSL_CERT_FILE (ZEAL_TEST_CLICKHOUSE_CA), as an operator would their own.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=zeal test CA" \
  -keyout "$CH/ca.key" -out "$CH/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$CH/server.key" -out "$CH/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$CH/san.ext"
openssl x509 -req -in "$CH/server.csr" -CA "$CH/ca.pem" -CAkey "$CH/ca.key" -CAcreateserial \
  -days 2 -extfile "$CH/san.ext" -out "$CH/server.crt" 2>/dev/null
chmod 600 "$CH/ca.key" "$CH/server.key"
cp tests/services/clickhouse/users.xml "$CH/users.xml"
# The shipped read-only `grafana` user (deploy/), merged into users.xml as docker-compose does.
mkdir -p "$CH/users.d"
cp deploy/clickhouse/users.d/grafana.xml "$CH/users.d/grafana.xml"
for attempt in 1 2 3; do
  t=$(now_ms)
  read -r CH_HTTP CH_TCP CH_HTTPS < <(free_ports 3)
  sed -e "s#@DIR@#$CH#g" -e "s#@HTTP_PORT@#$CH_HTTP#g" -e "s#@TCP_PORT@#$CH_TCP#g" \
    -e "s#@HTTPS_PORT@#$CH_HTTPS#g" \
    tests/services/clickhouse/config.xml.in >"$CH/config.xml"
  (cd "$CH" && exec clickhouse-server --config-file="$CH/config.xml" >stdout.log 2>&1) &
  echo $! >"$CH/pid"
  disown $! # no "Killed" job report from bash when a service is stopped or a test kills it
  status=0
  wait_up "$(cat "$CH/pid")" 30 curl -fsS "http://127.0.0.1:$CH_HTTP/ping" || status=$?
  [ $status = 0 ] && break
  if [ $status = 1 ] && [ $attempt -lt 3 ] && grep -qi 'address already in use' "$CH"/*.log; then
    say "clickhouse: port taken meanwhile, trying others"
    continue
  fi
  show_logs 50
  die "ClickHouse did not answer on 127.0.0.1:$CH_HTTP ($([ $status = 1 ] && echo exited || echo timeout))"
done
CH_VERSION=$(curl -fsS --max-time 10 "http://127.0.0.1:$CH_HTTP/?query=SELECT%20version()")
curl -fsS --max-time 10 "http://127.0.0.1:$CH_HTTP/?user=reader&password=reader&query=SELECT%201" >/dev/null \
  || die "ClickHouse does not accept the read-only user (tests/services/clickhouse/users.xml)"
curl -fsS --max-time 10 "http://127.0.0.1:$CH_HTTP/?user=grafana&password=grafana&query=SELECT%201" >/dev/null \
  || die "ClickHouse does not accept the shipped grafana user (deploy/clickhouse/users.d/grafana.xml)"
curl -fsS --max-time 10 --cacert "$CH/ca.pem" "https://127.0.0.1:$CH_HTTPS/?query=SELECT%201" >/dev/null \
  || die "ClickHouse does not answer HTTPS on 127.0.0.1:$CH_HTTPS (see $CH/clickhouse-server.err.log)"
say "clickhouse $CH_VERSION up on 127.0.0.1:$CH_HTTP (http), :$CH_TCP (native) in $(since "$t")"

# The test cluster `zeal` for the cluster test: ZooKeeper (Debian's 3.8, standalone) and two more
# ClickHouse servers, the two replicas of its one shard (tests/services/clickhouse/cluster.xml.in).
ZK="$DIR/zookeeper"
# ZooKeeper is up when it answers the four-letter word ruok with imok (bash's /dev/tcp).
# shellcheck disable=SC2016 # expanded by the inner bash
ZK_OK=(bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf ruok >&3 && [ "$(cat <&3)" = imok ]' zk_ok)
for attempt in 1 2 3; do
  rm -rf "$ZK"
  mkdir -p "$ZK/data"
  t=$(now_ms)
  read -r ZK_PORT R1_HTTP R1_TCP R1_INTER R2_HTTP R2_TCP R2_INTER < <(free_ports 7)
  printf 'clientPort=%s\nclientPortAddress=127.0.0.1\ndataDir=%s\nadmin.enableServer=false\n4lw.commands.whitelist=ruok\ntickTime=2000\n' \
    "$ZK_PORT" "$ZK/data" >"$ZK/zoo.cfg"
  (cd "$ZK" && exec java -Xmx256m -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
    org.apache.zookeeper.server.ZooKeeperServerMain "$ZK/zoo.cfg" >zk.log 2>&1) &
  echo $! >"$ZK/pid"
  disown $!
  status=0
  wait_up "$(cat "$ZK/pid")" 60 "${ZK_OK[@]}" "$ZK_PORT" || status=$?
  [ $status = 0 ] && break
  tail -n 30 "$ZK/zk.log" >&2
  # A JVM that took the port and then hung is stopped and a new one started on other ports.
  kill -KILL "$(cat "$ZK/pid")" 2>/dev/null || true
  [ $attempt -lt 3 ] || die "ZooKeeper did not answer on 127.0.0.1:$ZK_PORT ($([ $status = 1 ] && echo exited || echo timeout)) three times"
  say "zookeeper: no answer on 127.0.0.1:$ZK_PORT ($([ $status = 1 ] && echo exited || echo timeout)); starting another"
done
for r in 1 2; do
  C="$DIR/clickhouse-r$r"
  mkdir -p "$C"/{data,tmp,user_files,format_schemas}
  cp tests/services/clickhouse/users.xml "$C/users.xml"
  eval "http=\$R${r}_HTTP tcp=\$R${r}_TCP inter=\$R${r}_INTER"
  sed -e "s#@DIR@#$C#g" -e "s#@HTTP_PORT@#$http#g" -e "s#@TCP_PORT@#$tcp#g" \
    -e "s#@INTERSERVER_PORT@#$inter#g" -e "s#@REPLICA@#r$r#g" -e "s#@ZK_PORT@#$ZK_PORT#g" \
    -e "s#@R1_TCP@#$R1_TCP#g" -e "s#@R2_TCP@#$R2_TCP#g" \
    tests/services/clickhouse/cluster.xml.in >"$C/config.xml"
  (cd "$C" && exec clickhouse-server --config-file="$C/config.xml" >stdout.log 2>&1) &
  echo $! >"$C/pid"
  disown $!
done
for r in 1 2; do
  C="$DIR/clickhouse-r$r"
  eval "http=\$R${r}_HTTP"
  wait_up "$(cat "$C/pid")" 30 curl -fsS "http://127.0.0.1:$http/ping" \
    || { tail -n 30 "$C/clickhouse-server.err.log" >&2; die "cluster replica r$r did not answer on 127.0.0.1:$http"; }
done
say "clickhouse cluster zeal (zookeeper :$ZK_PORT, replicas :$R1_HTTP, :$R2_HTTP) up in $(since "$t")"

# `zeal broker` (tansu 0.6): flags --listener-url, --advertised-listener-url, --storage-engine,
# the same as the tansu CLI's. It opens the one Kafka port (node 111). Storage: "sqlite://<path>"
# is resolved against the working directory, even when absolute (sqlite:///tmp/x/t.db from /tmp
# opens /tmp/tmp/x/t.db), so it runs in $DIR/tansu with a relative path. The tests' restart
# (tests/src/broker.rs) and private brokers (tests/src/fault_proxy.rs) run the same binary.
TANSU_DIR="$DIR/tansu"
TANSU_STORAGE="sqlite://tansu.db"
mkdir -p "$TANSU_DIR"
for attempt in 1 2 3; do
  t=$(now_ms)
  read -r KAFKA_PORT < <(free_ports 1)
  (cd "$TANSU_DIR" && exec "$TANSU" broker \
    --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine "$TANSU_STORAGE" >tansu.log 2>&1) &
  echo $! >"$TANSU_DIR/pid"
  disown $!
  status=0
  # Ready when a Metadata request lists the broker at the advertised address.
  wait_up "$(cat "$TANSU_DIR/pid")" 30 "$PY" tests/services/kafka_probe.py "127.0.0.1:$KAFKA_PORT" \
    || status=$?
  [ $status = 0 ] && break
  if [ $status = 1 ] && [ $attempt -lt 3 ] && grep -qi 'address already in use' "$TANSU_DIR/tansu.log"; then
    say "broker: port taken meanwhile, trying another"
    continue
  fi
  show_logs 50
  "$PY" tests/services/kafka_probe.py "127.0.0.1:$KAFKA_PORT" >&2 || true
  die "the broker does not serve Kafka on 127.0.0.1:$KAFKA_PORT ($([ $status = 1 ] && echo exited || echo timeout))"
done
say "broker (zeal broker, tansu 0.6) up on 127.0.0.1:$KAFKA_PORT (sqlite in $TANSU_DIR) in $(since "$t")"

export ZEAL_TEST_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
export ZEAL_TEST_CLICKHOUSE_URL="http://127.0.0.1:$CH_HTTP"
export ZEAL_TEST_CLICKHOUSE_HTTPS_URL="https://127.0.0.1:$CH_HTTPS"
export ZEAL_TEST_CLICKHOUSE_CA="$CH/ca.pem"
export ZEAL_TEST_CLICKHOUSE_TCP_PORT="$CH_TCP"
export ZEAL_TEST_CLICKHOUSE_CLUSTER_URLS="http://127.0.0.1:$R1_HTTP,http://127.0.0.1:$R2_HTTP"
export ZEAL_TEST_CLICKHOUSE_USER=default
export ZEAL_TEST_CLICKHOUSE_PASSWORD=""
export ZEAL_TEST_CLICKHOUSE_READER_USER=reader
export ZEAL_TEST_CLICKHOUSE_READER_PASSWORD=reader
export ZEAL_TEST_TANSU_BIN="$TANSU"
export ZEAL_TEST_TANSU_DIR="$TANSU_DIR"
export ZEAL_TEST_TANSU_STORAGE="$TANSU_STORAGE"
export ZEAL_TEST_TANSU_PID
ZEAL_TEST_TANSU_PID=$(cat "$TANSU_DIR/pid")
export ZEAL_TEST_SERVICES_DIR="$DIR"
ZEAL_TEST_PROMETHEUS=$(command -v prometheus) || die "prometheus is not on PATH after installing it"
export ZEAL_TEST_PROMETHEUS
ZEAL_TEST_STUNNEL=$(command -v stunnel4) || die "stunnel4 is not on PATH after installing it"
export ZEAL_TEST_STUNNEL
export ZEAL_TEST_TLS_CERT="$CH/server.crt" ZEAL_TEST_TLS_KEY="$CH/server.key"

# --- run ---------------------------------------------------------------------------------------
if [ "$MODE" = keep ]; then
  env | grep -E '^ZEAL_TEST_' | sort | while IFS= read -r line; do
    printf 'export %s=%q\n' "${line%%=*}" "${line#*=}"
  done | tee "$DIR/env.sh"
  touch "$DIR/kept"
  trap - EXIT INT TERM
  say "services left running: source $DIR/env.sh; stop: bash tests/run.sh --stop $DIR"
  exit 0
fi

# With a terminal the command runs in the foreground (Ctrl-C reaches it, it can read input).
# Without one (CI) it runs in its own process group, so that a SIGTERM or SIGINT to this script
# interrupts the wait at once and the trap stops the whole group (cargo and the test binaries).
run() {
  say "running: $*"
  if [ -t 0 ]; then
    "$@"
  else
    setsid "$@" &
    CMD_PID=$!
    echo "$CMD_PID" >"$DIR/command.pid"
    local status=0
    wait_budget "$CMD_PID" || status=$?
    if [ $status = 124 ] && [ "$(left)" -le 0 ]; then
      say "the run budget (ZEAL_RUN_BUDGET=${BUDGET}s) is spent: stopped $* (the tests running over 60s are named above)"
    fi
    return $status
  fi
}

set +e
if [ "$MODE" = command ]; then
  run "$@"
else
  run cargo test --workspace --no-fail-fast "${locked[@]}"
  code=$?
  # Coverage-guided fuzzing, bounded: every target in fuzz/ for ZEAL_FUZZ_SECS seconds (20).
  if [ -z "$FUZZ_BUILD_PID" ]; then
    say "fuzzing SKIPPED: no nightly toolchain (rustup toolchain install nightly)"
  else
    say "waiting for the fuzz targets' build"
    wait_budget "$FUZZ_BUILD_PID"
    fuzzed=$?
    FUZZ_BUILD_PID=""
    if [ $fuzzed = 124 ]; then
      say "fuzzing SKIPPED: its build did not finish within the run budget (ZEAL_RUN_BUDGET=${BUDGET}s)"
      fuzzed=0
    elif [ $fuzzed != 0 ]; then
      cat "$FUZZ_BUILD_LOG" >&2
      say "fuzzing FAILED: the fuzz targets did not build (exit $fuzzed)"
    elif [ "$BUDGET" -gt 0 ] && [ "$(left)" -lt 300 ]; then
      say "fuzzing SKIPPED: $(left)s left of the run budget (ZEAL_RUN_BUDGET=${BUDGET}s)"
    else
      grep '^==> built' "$FUZZ_BUILD_LOG" | sed 's/^==> built/==> fuzz targets built/' >&2 || true
      run bash tests/fuzz.sh "${ZEAL_FUZZ_SECS:-20}"
      fuzzed=$?
    fi
    [ $code != 0 ] || code=$fuzzed
  fi
  say "waiting for clippy"
  linted=0
  wait_budget "$CLIPPY_PID" || linted=$?
  CLIPPY_PID=""
  cat "$CLIPPY_LOG" >&2
  if [ $linted = 0 ]; then
    say "clippy: no warning (finished $((SECONDS - CLIPPY_START))s after it started)"
  elif [ $linted = 124 ]; then
    say "clippy FAILED: it did not finish within the run budget (ZEAL_RUN_BUDGET=${BUDGET}s)"
  else
    say "clippy FAILED (exit $linted): the warnings above"
  fi
  [ $code != 0 ] || code=$linted
  (exit $code)
fi
code=$?
CMD_PID=""
exit $code
