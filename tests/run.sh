#!/usr/bin/env bash
# The test command (README): installs what the tests need, starts a real Kafka-protocol broker
# (tansu) and a real ClickHouse on free loopback ports with their data in a temporary
# directory, runs the whole test suite against them, and stops both even when tests fail.
#
#   bash tests/run.sh              # fmt check, schema check with fastavro, cargo test --workspace
#   bash tests/run.sh -- CMD ...   # run CMD instead, with the services up and ZEAL_TEST_* set
#   KEEP=1 bash tests/run.sh -- bash   # keep the temporary directory afterwards
#
# Needs root on Debian for the first run (apt-get, cargo install); later runs reuse everything.
# Re-runnable: nothing is left behind but caches (~/.cargo/bin/tansu, ~/.cache/zebra-zeal).
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
export PATH="$HOME/.cargo/bin:$PATH"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/zebra-zeal"
TANSU_VERSION=0.6.0

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- install what is missing ---------------------------------------------------------------
apt_packages=()
command -v clickhouse-server >/dev/null || apt_packages+=(clickhouse-server clickhouse-client)
command -v curl >/dev/null || apt_packages+=(curl)
command -v cc >/dev/null || apt_packages+=(build-essential)
command -v pkg-config >/dev/null || apt_packages+=(pkg-config)
dpkg -s libgmp-dev >/dev/null 2>&1 || apt_packages+=(libgmp-dev)
python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null \
  || apt_packages+=(python3-venv)
if [ ${#apt_packages[@]} -gt 0 ]; then
  say "installing ${apt_packages[*]} (apt)"
  [ "$(id -u)" = 0 ] || die "installing packages needs root: ${apt_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

if ! tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
  say "installing tansu $TANSU_VERSION with sqlite storage (cargo install; first run only, ~8-15 min)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql --quiet
fi
TANSU=$(command -v tansu)

VENV="$CACHE/venv-test"
if ! "$VENV/bin/python" -c 'import fastavro' 2>/dev/null; then
  say "creating $VENV with fastavro (PyPI)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q fastavro
fi
export ZEAL_TEST_PYTHON="$VENV/bin/python"

# --- start the services --------------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() { # name, seconds, command...
  local name=$1 secs=$2; shift 2
  for _ in $(seq $((secs * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

DIR=$(mktemp -d "${TMPDIR:-/tmp}/zeal-services.XXXXXX")
CH_PID=""
TANSU_PID=""
cleanup() {
  local code=$?
  [ -n "$TANSU_PID" ] && kill "$TANSU_PID" 2>/dev/null || true
  [ -n "$CH_PID" ] && kill "$CH_PID" 2>/dev/null || true
  for pid in $TANSU_PID $CH_PID; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  # Tests may restart the broker themselves; they record its pid here.
  if [ -f "$DIR/tansu.pid" ]; then kill -9 "$(cat "$DIR/tansu.pid")" 2>/dev/null || true; fi
  if [ -z "${KEEP:-}" ]; then rm -rf "$DIR"; else say "kept $DIR"; fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CH_HTTP=$(free_port); CH_TCP=$(free_port)
mkdir -p "$DIR/clickhouse"/{data,tmp,user_files,format_schemas}
sed -e "s#@DIR@#$DIR/clickhouse#g" -e "s#@HTTP_PORT@#$CH_HTTP#g" -e "s#@TCP_PORT@#$CH_TCP#g" \
  tests/services/clickhouse/config.xml.in > "$DIR/clickhouse/config.xml"
cp tests/services/clickhouse/users.xml "$DIR/clickhouse/users.xml"
clickhouse-server --config-file="$DIR/clickhouse/config.xml" \
  > "$DIR/clickhouse/stdout.log" 2>&1 &
CH_PID=$!
disown "$CH_PID" # tests may kill services; no job-control noise
if ! wait_for clickhouse 60 curl -fsS "http://127.0.0.1:$CH_HTTP/ping"; then
  tail -n 50 "$DIR/clickhouse/stdout.log" "$DIR/clickhouse/clickhouse-server.err.log" >&2 || true
  die "ClickHouse did not answer on 127.0.0.1:$CH_HTTP"
fi
say "clickhouse $(curl -fsS "http://127.0.0.1:$CH_HTTP/?query=SELECT%20version()") up on 127.0.0.1:$CH_HTTP"

KAFKA_PORT=$(free_port)
mkdir -p "$DIR/tansu"
# tansu 0.6.0: `broker` with sqlite storage; a relative sqlite path resolves against the cwd.
(cd "$DIR/tansu" && exec "$TANSU" broker \
  --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
  --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
  --storage-engine "sqlite://tansu.db" > tansu.log 2>&1) &
TANSU_PID=$!
disown "$TANSU_PID"
if ! wait_for tansu 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$KAFKA_PORT"; then
  tail -n 50 "$DIR/tansu/tansu.log" >&2 || true
  die "tansu did not accept connections on 127.0.0.1:$KAFKA_PORT"
fi
say "tansu $TANSU_VERSION up on 127.0.0.1:$KAFKA_PORT (sqlite storage in $DIR/tansu)"

export ZEAL_TEST_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
export ZEAL_TEST_CLICKHOUSE_URL="http://127.0.0.1:$CH_HTTP"
export ZEAL_TEST_CLICKHOUSE_USER=default
export ZEAL_TEST_CLICKHOUSE_PASSWORD=""
export ZEAL_TEST_CLICKHOUSE_READER_USER=reader
export ZEAL_TEST_CLICKHOUSE_READER_PASSWORD=reader
export ZEAL_TEST_TANSU_BIN="$TANSU"
export ZEAL_TEST_TANSU_DIR="$DIR/tansu"
export ZEAL_TEST_TANSU_STORAGE="sqlite://tansu.db"
export ZEAL_TEST_TANSU_PID="$TANSU_PID"
export ZEAL_TEST_SERVICES_DIR="$DIR"

# --- run -----------------------------------------------------------------------------------
if [ "${1:-}" = "--" ]; then
  shift
  [ $# -gt 0 ] || die "nothing to run after --"
  say "running: $*"
  set +e; "$@"; code=$?; set -e
  exit $code
fi

say "cargo fmt --check"
cargo fmt --all -- --check
say "schemas: every .avsc and golden vector through fastavro (an independent Avro implementation)"
"$ZEAL_TEST_PYTHON" tests/avro_check.py schemas | tail -n 1
locked=""; [ -f Cargo.lock ] && locked="--locked"
say "cargo test --workspace $locked"
cargo test --workspace $locked
