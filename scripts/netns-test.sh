#!/usr/bin/env bash
# netns-test: the default five-member herd (PROTOCOL.md section 6), one `herd serve` process per
# Linux network namespace, one veth pair per link. It checks that
#   1. an update at any member floods to all five;
#   2. with Hill-Smith and Jaquez-Singleton cut (`ip link set ... down`), each side shares its own
#      updates and the other side does not see them;
#   3. once the links are up again, every member answers WHATSAT with every client's newest
#      record within HEAL_S seconds;
#   4. a member killed and restarted with an empty store gets every record back (this needs
#      anti-entropy on link-up, PROTOCOL.md section 4).
#
# Addressing (private, and existing only inside the namespaces it creates):
#   member i (1..5) listens on 10.213.0.i, a /32 on `lo` in its namespace;
#   link k (1..6) is 10.213.k.0/30: .1 on its first member's end, .2 on the second's;
#   each member has a /32 route to each neighbour's service address via their shared veth.
# Neither the root namespace's interfaces nor its routes are touched: every veth is created
# inside a herd namespace (`ip -n <ns> link add ... peer ... netns <ns2>`).
#
# Needs root and `ip netns`; prints "netns-test: skipped: <reason>" and exits 0 without them.
# Cleans up on exit, Ctrl-C and SIGTERM: kills every process it started, deletes only the
# namespaces named herdnt-<its pid>-*. Bounded: each step has its own timeout and a watchdog
# ends the run after NETNS_TEST_DEADLINE_S seconds (default 120).
#
# Usage: sudo bash scripts/netns-test.sh        (exit 0 pass or skip, 1 fail)
#        NETNS_TEST_KEEP_LOGS=1 keeps the temporary folder (herd.toml, logs) and prints its path.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DENO_VERSION=2.9.6
DEADLINE_S=${NETNS_TEST_DEADLINE_S:-120}
# Bounds: links and flooding once started, partition sides, healing after the cut, restart.
FLOOD_S=15
SIDE_S=10
HEAL_S=20
RESTART_S=20
# One step (a deno call inside a namespace) never runs longer than this, s.
STEP_S=15

# The default herd: same names and links as herd.toml.
NAMES=(Campbell Hill Jaquez Singleton Smith)
LINKS=("Hill Jaquez" "Hill Smith" "Singleton Jaquez" "Singleton Smith" "Singleton Campbell"
  "Smith Campbell")
NET=10.213
BASE_PORT=11490
PREFIX="herdnt-$$"
LOCATION="+34.068930-118.445127"

# Messages go to the stdout the script started with (fd 3): a signal trap can run while a
# function's output is redirected to a file.
exec 3>&1
say() { echo "netns-test: $*" >&3; }
skip() {
  say "skipped: $*"
  exit 0
}

# --- preflight: skip where the test cannot run ----------------------------------------------
[ "$(uname -s)" = Linux ] || skip "needs Linux network namespaces (this is $(uname -s))"
[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces (uid is $(id -u))"
command -v ip >/dev/null 2>&1 || skip "iproute2 'ip' is not installed"
command -v timeout >/dev/null 2>&1 || skip "coreutils 'timeout' is not installed"
ip netns list >/dev/null 2>&1 || skip "'ip netns' does not work here"

cd "$ROOT"
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1
# The same Deno as .ci/run: the one on PATH if it is 2.9.6, else the npm registry's. Members run
# the binary itself (Deno.execPath()), so nothing inside a namespace needs the registry.
if command -v deno >/dev/null 2>&1 && deno --version | grep -q "^deno ${DENO_VERSION} "; then
  DENO=$(command -v deno)
elif command -v npx >/dev/null 2>&1; then
  DENO=$(timeout 300 npx -y "deno@${DENO_VERSION}" eval 'console.log(Deno.execPath())') ||
    DENO=""
else
  DENO=""
fi
if [ -z "$DENO" ] || [ ! -x "$DENO" ]; then
  say "FAIL: cannot find deno ${DENO_VERSION} (not on PATH, and npx could not fetch it)"
  exit 1
fi
# Namespaces have no route to any registry: fetch every module now, in the root namespace.
if ! timeout 300 "$DENO" cache --quiet main.ts scripts/netns_check.ts; then
  say "FAIL: deno cache main.ts scripts/netns_check.ts failed"
  exit 1
fi

# --- state and cleanup ----------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/herd-netns.XXXXXX")
CREATED_NS=()
declare -A PID=()
WATCHDOG=""
RESULTS=()
FAILED=0
STARTED_MS=$(date +%s%3N)

cleanup() {
  local rc=${1:-$?}
  trap - EXIT INT TERM
  set +e
  [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
  local p
  for p in "${PID[@]}"; do kill -TERM "$p" 2>/dev/null; done
  # Members stop cleanly on SIGTERM within a second; whatever is left after 3 s is killed.
  for _ in $(seq 30); do
    local alive=0
    for p in "${PID[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for p in "${PID[@]}"; do kill -KILL "$p" 2>/dev/null; done
  # Background checks (timeout wrappers) this shell started.
  for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null; done
  local ns
  for ns in "${CREATED_NS[@]}"; do
    # Anything still inside one of our namespaces was started by this run.
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null || say "warning: could not delete namespace $ns"
  done
  wait 2>/dev/null
  if [ "${NETNS_TEST_KEEP_LOGS:-0}" = 1 ]; then
    say "kept $TMP (herd.toml, logs/, <Name>.out)"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; cleanup 130' INT
trap 'say "terminated"; cleanup 143' TERM

# Whole-run bound: SIGTERM to this shell (whose trap cleans up) after DEADLINE_S seconds.
(
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  sleep "$DEADLINE_S" &
  sleeper=$!
  wait "$sleeper"
  say "FAIL: still running after the ${DEADLINE_S} s deadline"
  kill -TERM $$
) &
WATCHDOG=$!

now_ms() { date +%s%3N; }
index_of() {
  local i
  for i in "${!NAMES[@]}"; do [ "${NAMES[$i]}" = "$1" ] && echo $((i + 1)) && return; done
  return 1
}
ns_of() { echo "${PREFIX}-$1"; }
addr_of() { echo "${NET}.0.$(index_of "$1")"; }
port_of() { echo $((BASE_PORT + $(index_of "$1") - 1)); }
# The veth end, inside member $1's namespace, that leads to member $2 (15 chars at most).
veth_of() {
  local name="to-$2"
  echo "${name:0:15}"
}
record() {
  RESULTS+=("$1")
  case "$1" in FAIL*) FAILED=$((FAILED + 1)) ;; esac
  say "$1"
}

# --- namespaces, veths, addresses, routes ---------------------------------------------------
for name in "${NAMES[@]}"; do
  ns=$(ns_of "$name")
  if ! ip netns add "$ns" 2>"$TMP/netns.err"; then
    [ "${#CREATED_NS[@]}" -eq 0 ] && skip "cannot create a network namespace: $(cat "$TMP/netns.err")"
    say "FAIL: ip netns add $ns: $(cat "$TMP/netns.err")"
    exit 1
  fi
  CREATED_NS+=("$ns")
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$(addr_of "$name")/32" dev lo
done

# Link k joins $1 (10.213.k.1) and $2 (10.213.k.2).
link_number() {
  local k=0 link
  for link in "${LINKS[@]}"; do
    k=$((k + 1))
    [ "$link" = "$1 $2" ] && echo "$k" && return
  done
  return 1
}
# The /32 routes between two neighbours' service addresses over their veth. An interface set
# down loses its routes, so restoring a link adds them again.
route_link() {
  local a=$1 b=$2 k
  k=$(link_number "$a" "$b")
  ip -n "$(ns_of "$a")" route replace "$(addr_of "$b")/32" via "${NET}.${k}.2" \
    dev "$(veth_of "$a" "$b")" src "$(addr_of "$a")"
  ip -n "$(ns_of "$b")" route replace "$(addr_of "$a")/32" via "${NET}.${k}.1" \
    dev "$(veth_of "$b" "$a")" src "$(addr_of "$b")"
}
set_link() {
  local a=$1 b=$2 state=$3
  ip -n "$(ns_of "$a")" link set dev "$(veth_of "$a" "$b")" "$state"
  ip -n "$(ns_of "$b")" link set dev "$(veth_of "$b" "$a")" "$state"
  if [ "$state" = up ]; then route_link "$a" "$b"; fi
}
k=0
for link in "${LINKS[@]}"; do
  k=$((k + 1))
  read -r a b <<<"$link"
  ip -n "$(ns_of "$a")" link add "$(veth_of "$a" "$b")" type veth \
    peer name "$(veth_of "$b" "$a")" netns "$(ns_of "$b")"
  ip -n "$(ns_of "$a")" addr add "${NET}.${k}.1/30" dev "$(veth_of "$a" "$b")"
  ip -n "$(ns_of "$b")" addr add "${NET}.${k}.2/30" dev "$(veth_of "$b" "$a")"
  set_link "$a" "$b" up
done
say "${#NAMES[@]} namespaces ${PREFIX}-*, ${#LINKS[@]} veth links, addresses ${NET}.0.1-${#NAMES[@]}"

# --- the herd -------------------------------------------------------------------------------
{
  echo "[herd]"
  printf 'links = ['
  sep=""
  for link in "${LINKS[@]}"; do
    read -r a b <<<"$link"
    printf '%s["%s", "%s"]' "$sep" "$a" "$b"
    sep=", "
  done
  echo "]"
  echo "redial_min_ms = 50"
  echo "redial_max_ms = 500"
  echo "[places]"
  echo 'provider = "geonames"'
  for name in "${NAMES[@]}"; do
    printf '[[servers]]\nname = "%s"\nhost = "%s"\nport = %s\n' \
      "$name" "$(addr_of "$name")" "$(port_of "$name")"
  done
} >"$TMP/herd.toml"

# Peer authentication: every member gets the same random secret. A build without it ignores
# the variable.
HERD_SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export HERD_SECRET
if grep -q HERD_SECRET src/config.ts; then
  say "HERD_SECRET set (peer authentication)"
else
  say "HERD_SECRET set, but src/config.ts does not read it yet (no peer authentication)"
fi

start_member() {
  local name=$1
  ip netns exec "$(ns_of "$name")" "$DENO" run --cached-only \
    --allow-net --allow-read --allow-write --allow-env main.ts serve "$name" \
    --config "$TMP/herd.toml" --log-dir "$TMP/logs" --quiet \
    </dev/null >>"$TMP/$name.out" 2>&1 3>&- &
  PID[$name]=$!
}

# check <member> <netns_check.ts subcommand> [args...]: runs the checker in the member's
# namespace against the member's own address.
check() {
  local name=$1 command=$2
  shift 2
  timeout "$STEP_S" ip netns exec "$(ns_of "$name")" "$DENO" run --cached-only \
    --allow-net --allow-read scripts/netns_check.ts "$command" \
    "$(addr_of "$name"):$(port_of "$name")" "$@" 3>&-
}

# wait_listening <member>...: every member accepts connections within 10 s.
wait_listening() {
  local name
  for name in "$@"; do
    if ! check "$name" wait --timeout-ms 10000 >"$TMP/wait.$name" 2>&1; then
      say "$name is not listening: $(tail -1 "$TMP/wait.$name")"
      tail -5 "$TMP/$name.out" | sed "s/^/  $name: /"
      return 1
    fi
  done
}

# iamat <member> <file> <client-id> <client-time>...: sends IAMATs and appends the AT replies
# to <file> and to the list of every newest record ($TMP/all).
iamat() {
  local name=$1 file=$2 lines=() id
  shift 2
  while [ $# -ge 2 ]; do
    lines+=("IAMAT $1 $LOCATION $2")
    shift 2
  done
  if ! check "$name" send "${lines[@]}" >"$TMP/sent" 2>&1; then
    record "FAIL IAMAT to $name: $(tail -1 "$TMP/sent")"
    tail -5 "$TMP/$name.out" | sed "s/^/  $name: /"
    summary
  fi
  tee -a "$TMP/all" <"$TMP/sent" >>"$file"
}

# converge <label> <bound-s> <file> [--absent] -- <member>...: polls every member (in parallel)
# until each holds every record of <file> (or, with --absent, none of them), for at most
# <bound-s> seconds. Records PASS or FAIL with the time taken.
converge() {
  local label=$1 bound=$2 file=$3 flags=() start deadline name
  shift 3
  while [ "$1" != "--" ]; do
    flags+=("$1")
    shift
  done
  shift
  start=$(now_ms)
  deadline=$((start + bound * 1000))
  while :; do
    local pids=() bad=()
    for name in "$@"; do
      check "$name" expect "$file" "${flags[@]}" >"$TMP/check.$name" 2>&1 &
      pids+=($!)
    done
    local i=0
    for name in "$@"; do
      wait "${pids[$i]}" || bad+=("$name")
      i=$((i + 1))
    done
    if [ "${#bad[@]}" -eq 0 ]; then
      record "PASS $label ($(($(now_ms) - start)) ms)"
      return 0
    fi
    if [ "$(now_ms)" -ge "$deadline" ]; then
      record "FAIL $label: not within ${bound} s"
      for name in "${bad[@]}"; do say "  $name: $(tail -1 "$TMP/check.$name")"; done
      return 1
    fi
    sleep 0.2
  done
}

# summary: prints PASS or FAIL with every failed check, and exits 0 or 1.
summary() {
  local elapsed r
  elapsed=$(($(now_ms) - STARTED_MS))
  if [ "$FAILED" -eq 0 ]; then
    say "PASS: ${#RESULTS[@]} checks in $((elapsed / 1000)).$(printf %03d $((elapsed % 1000))) s"
    exit 0
  fi
  say "FAIL: $FAILED of ${#RESULTS[@]} checks failed in $((elapsed / 1000)) s:"
  for r in "${RESULTS[@]}"; do
    case "$r" in FAIL*) say "  $r" ;; esac
  done
  exit 1
}

for name in "${NAMES[@]}"; do start_member "$name"; done
if ! wait_listening "${NAMES[@]}"; then
  record "FAIL start: not every member listens"
  summary
fi
say "5 members listening ($(($(now_ms) - STARTED_MS)) ms since start)"

# 1. Flooding: one new client at each member; everyone gets all five.
T=$(date +%s)
: >"$TMP/all"
for i in "${!NAMES[@]}"; do
  iamat "${NAMES[$i]}" "$TMP/phase1" "nt-c$((i + 1))" "$T.$((i + 1))"
done
converge "flood: an update at each member reaches all five" "$FLOOD_S" "$TMP/phase1" \
  -- "${NAMES[@]}" || true

# 2. Partition {Hill, Jaquez} | {Campbell, Singleton, Smith}: updates on both sides.
set_link Hill Smith down
set_link Singleton Jaquez down
say "cut Hill-Smith and Singleton-Jaquez"
iamat Hill "$TMP/side-a" nt-a1 "$((T + 1)).1" nt-c1 "$((T + 1)).2"
iamat Jaquez "$TMP/side-a" nt-c2 "$((T + 1)).3"
iamat Smith "$TMP/side-b" nt-b1 "$((T + 1)).4" nt-c3 "$((T + 1)).5"
iamat Campbell "$TMP/side-b" nt-c4 "$((T + 1)).6" nt-c1 "$((T + 1)).05"
converge "partition: Hill and Jaquez share their updates" "$SIDE_S" "$TMP/side-a" \
  -- Hill Jaquez || true
converge "partition: Campbell, Singleton and Smith share theirs" "$SIDE_S" "$TMP/side-b" \
  -- Campbell Singleton Smith || true
# The newest nt-c1 is Hill's (time .2 beats Campbell's .05): drop Campbell's from side B's
# list before asking side A not to have side B's records.
grep -v ' nt-c1 ' "$TMP/side-b" >"$TMP/side-b-new" || true
converge "partition: side B does not see side A's updates" 1 "$TMP/side-a" --absent \
  -- Campbell Singleton Smith || true
converge "partition: side A does not see side B's updates" 1 "$TMP/side-b-new" --absent \
  -- Hill Jaquez || true

# 3. Restore the links: every member converges on every newest record.
set_link Hill Smith up
set_link Singleton Jaquez up
say "restored Hill-Smith and Singleton-Jaquez"
converge "heal: every member has every newest record after the links return" "$HEAL_S" \
  "$TMP/all" -- "${NAMES[@]}" || true

# 4. Restart: kill Jaquez, update while it is away, start it again with an empty store.
kill -KILL "${PID[Jaquez]}"
wait "${PID[Jaquez]}" 2>/dev/null || true
say "killed Jaquez (SIGKILL)"
iamat Hill "$TMP/phase4" nt-r1 "$((T + 2)).1" nt-c5 "$((T + 2)).2"
start_member Jaquez
if wait_listening Jaquez; then
  say "restarted Jaquez with an empty store"
  converge "restart: Jaquez gets every record back (anti-entropy)" "$RESTART_S" "$TMP/all" \
    -- "${NAMES[@]}" || true
else
  record "FAIL restart: Jaquez does not listen again"
fi

summary
