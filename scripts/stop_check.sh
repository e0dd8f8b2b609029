#!/usr/bin/env bash
# Shows that a member stops cleanly, N times (default 20) on each way the README starts one:
#   deno task serve, npx -y deno@2.9.6 task serve, deno run ... main.ts serve
# Each try starts a one-member herd in its own process group (as a terminal's foreground job),
# waits until it listens, then sends what a terminal sends on Ctrl-C: SIGINT to the whole group
# (so the member gets it from the "terminal" and again from deno task and npx). A try is clean
# when the whole group is gone within 10 s, its log holds exactly one member.stopping and a
# member.stopped, and the port is free again. A last round stops each path the way a script
# should: SIGTERM to the process group (`kill -TERM -- -<pgid>`), not to npx alone.
#
# Usage: bash scripts/stop_check.sh [tries]      (needs deno or npx on PATH, bash, setsid)
# Loopback only: the member listens on a free port of 127.0.0.1.
set -uo pipefail
cd "$(dirname "$0")/.."

TRIES=${1:-20}
DENO_VERSION=2.9.6
PERMS="--allow-net --allow-read --allow-write --allow-env"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if command -v deno >/dev/null 2>&1; then DENO=deno; else DENO="npx -y deno@${DENO_VERSION}"; fi

# A free port on 127.0.0.1 (bound by deno, then released).
port=$($DENO eval 'const l = Deno.listen({ hostname: "127.0.0.1", port: 0 }); console.log(l.addr.port); l.close();')
cat >"$work/herd.toml" <<EOF
[[servers]]
name = "Solo"
host = "127.0.0.1"
port = $port
EOF

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

# try <label> <signal> <command...>: one start and stop; prints nothing on success.
try() {
  local label=$1 signal=$2
  shift 2
  local logs="$work/logs.$RANDOM$RANDOM"
  setsid "$@" serve Solo --config "$work/herd.toml" --log-dir "$logs" >"$work/out" 2>&1 &
  local pgid=$!
  local i
  for ((i = 0; i < 600; i++)); do listening && break; sleep 0.05; done
  if ! listening; then
    echo "$label: never listened: $(tail -3 "$work/out")"
    kill -KILL -- "-$pgid" 2>/dev/null
    return 1
  fi
  kill "-$signal" -- "-$pgid"
  for ((i = 0; i < 200; i++)); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 -- "-$pgid" 2>/dev/null; then
    echo "$label: still running 10 s after SIG$signal"
    kill -KILL -- "-$pgid" 2>/dev/null
    return 1
  fi
  wait "$pgid" 2>/dev/null
  local stopping stopped
  stopping=$(grep -c '"event":"member.stopping"' "$logs/Solo.log")
  stopped=$(grep -c '"event":"member.stopped"' "$logs/Solo.log")
  if [ "$stopping" != 1 ] || [ "$stopped" != 1 ]; then
    echo "$label: log has $stopping member.stopping and $stopped member.stopped (want 1 and 1)"
    return 1
  fi
  if listening; then
    echo "$label: port $port still open after the stop"
    return 1
  fi
}

status=0
run_path() {
  local label=$1 signal=$2 tries=$3
  shift 3
  local clean=0 n
  for ((n = 0; n < tries; n++)); do try "$label" "$signal" "$@" && clean=$((clean + 1)); done
  echo "$label, SIG$signal to the process group: clean in $clean of $tries"
  [ "$clean" -eq "$tries" ] || status=1
}

# shellcheck disable=SC2086 # $DENO and $PERMS are word lists on purpose
{
  run_path "deno task" INT "$TRIES" $DENO task
  run_path "npx -y deno@${DENO_VERSION} task" INT "$TRIES" npx -y "deno@${DENO_VERSION}" task
  run_path "deno run" INT "$TRIES" $DENO run $PERMS main.ts
  run_path "npx -y deno@${DENO_VERSION} task (script stop)" TERM 3 npx -y "deno@${DENO_VERSION}" task
}
exit $status
