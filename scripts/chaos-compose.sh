#!/usr/bin/env bash
# The chaos schedule against the compose topology (compose.yaml): starts it, runs the chaos load and
# checker (dist/scripts/chaos/main.js --external) against the published 127.0.0.1 ports, applies the
# same fault schedule as `npm run chaos` with docker compose kill|pause|unpause|restart, and prints
# the same report. Needs docker compose, node 20 and a build (`npm run build`).
#
#   scripts/chaos-compose.sh                      # CI profile: every fault once
#   PROFILE=long DURATION=600 SEED=3 scripts/chaos-compose.sh
#   KEEP=1 scripts/chaos-compose.sh               # leave the containers running afterwards
#
# Exit status: the checker's (0 every invariant held, 1 one failed, 2 harness error).
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-ci}
SEED=${SEED:-1}
DURATION=${DURATION:-600}
LEASE_TTL=2 # compose.yaml: shardctl init --lease-ttl 2
OUT=${OUT:-} # default: a new temporary directory
FAULTS_LOG=${FAULTS_LOG:-}
ETCD=127.0.0.1:2379
CLUSTER=chaos
PROXY_URLS=http://127.0.0.1:8080,http://127.0.0.1:8081
PROXIES=(proxy-1 proxy-2)
# The long-running services (the one-shots init, ns-acked and ns-async run once, at the first `up`).
SERVICES=(etcd node-s0-a node-s0-b node-s1-a node-s1-b node-s2-a node-s2-b "${PROXIES[@]}" control-plane)
NODE_ADMINS=node-s0-a@0=http://127.0.0.1:9200,node-s0-b@0=http://127.0.0.1:9201,node-s1-a@1=http://127.0.0.1:9202,node-s1-b@1=http://127.0.0.1:9203,node-s2-a@2=http://127.0.0.1:9204,node-s2-b@2=http://127.0.0.1:9205
HARNESS=dist/scripts/chaos/main.js
SHARDCTL=dist/control-plane/cli/shardctl.js
compose() { docker compose -f compose.yaml "$@"; }

now_ms() { date +%s%3N; }
say() { echo "chaos-compose: $*"; }

# The admin URL of a node service, from NODE_ADMINS.
admin_url() {
  local entry
  for entry in ${NODE_ADMINS//,/ }; do
    if [[ $entry == "$1@"* ]]; then echo "${entry#*=}"; return; fi
  done
  return 1
}

# Node id (= compose service) of the primary, or of a replica, of shard $1, from etcd.
node_of() {
  node "$SHARDCTL" status --json --etcd "$ETCD" --cluster "$CLUSTER" | node -e '
    const [shard, role] = process.argv.slice(1);
    let text = ""; process.stdin.on("data", (d) => (text += d)).on("end", () => {
      const s = JSON.parse(text).shards.find((x) => x.shardId === Number(shard));
      const n = role === "primary" ? s && s.primary : s && s.replicas[0];
      if (!n) process.exit(1);
      console.log(n.nodeId);
    });' "$1" "$2"
}

epoch_of() {
  node "$SHARDCTL" status --json --etcd "$ETCD" --cluster "$CLUSTER" | node -e '
    let text = ""; process.stdin.on("data", (d) => (text += d)).on("end", () => {
      const s = JSON.parse(text).shards.find((x) => x.shardId === Number(process.argv[1]));
      console.log(s && s.primary ? s.primary.epoch : 0);
    });' "$1"
}

# Appends one fault to the log the harness reads: kind target shards hitsPrimary at doneAt note [proxy].
log_fault() {
  local proxy=${8:-}
  printf '{"kind":"%s","target":"%s","shards":%s,"hitsPrimary":%s,"at":%s,"doneAt":%s,"note":"%s"%s}\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$7" "${proxy:+,\"proxy\":$proxy}" >> "$FAULTS_LOG"
  say "fault $1 $2: $7"
}

wait_new_epoch() { # shard, old epoch, timeout seconds
  local end=$((SECONDS + $3))
  while ((SECONDS < end)); do
    [[ $(epoch_of "$1" 2>/dev/null || echo 0) -gt $2 ]] && return 0
    sleep 0.2
  done
  return 1
}

# Waits (bounded by the healthchecks) until every long-running service runs and is healthy.
wait_whole() { compose up -d --wait --no-recreate --no-deps "${SERVICES[@]}" >/dev/null 2>&1 || say "the cluster is not whole again; going on"; }

kill_primary() {
  local victim epoch at
  victim=$(node_of "$1" primary); epoch=$(epoch_of "$1"); at=$(now_ms)
  compose kill -s SIGKILL "$victim" >/dev/null
  wait_new_epoch "$1" "$epoch" $((4 * LEASE_TTL)) || say "no new primary of shard $1 within $((4 * LEASE_TTL)) s"
  compose start "$victim" >/dev/null
  log_fault kill-primary "$victim" "[$1]" true "$at" "$(now_ms)" "docker compose kill -s SIGKILL, started again empty after a new primary"
}

stop_primary() {
  local victim at done
  victim=$(node_of "$1" primary); at=$(now_ms)
  compose pause "$victim" >/dev/null
  sleep $((LEASE_TTL + 1))
  compose unpause "$victim" >/dev/null
  done=$(now_ms)
  log_fault stop-primary "$victim" "[$1]" true "$at" "$done" "docker compose pause for $((LEASE_TTL + 1)) s, then unpause"
}

kill_replica_in_sync() {
  local victim url state="" at note end
  victim=$(node_of "$1" replica); url=$(admin_url "$victim")
  compose restart "$victim" >/dev/null
  end=$((SECONDS + 5))
  while ((SECONDS < end)) && [[ $state != full-sync ]]; do
    state=$( (curl -s -m 1 "$url/healthz" || true) | node -e 'let t="";process.stdin.on("data",(d)=>(t+=d)).on("end",()=>{try{console.log((JSON.parse(t).replication||{}).state||"")}catch{console.log("")}})')
    sleep 0.05
  done
  at=$(now_ms)
  compose kill -s SIGKILL "$victim" >/dev/null
  compose start "$victim" >/dev/null
  if [[ $state == full-sync ]]; then note="docker compose kill -s SIGKILL during its full sync"; else note="no full sync seen within 5 s of its empty restart; killed then"; fi
  log_fault kill-replica-in-sync "$victim" "[$1]" false "$at" "$(now_ms)" "$note"
}

restart_proxy() {
  local name=${PROXIES[$1]} at
  at=$(now_ms)
  compose restart "$name" >/dev/null
  log_fault restart-proxy "$name" "[0,1,2]" false "$at" "$(now_ms)" "docker compose restart" "$1"
}

restart_etcd() {
  local at
  at=$(now_ms)
  compose stop etcd >/dev/null
  sleep 1
  compose start etcd >/dev/null
  log_fault restart-etcd etcd "[0,1,2]" false "$at" "$(now_ms)" "docker compose stop, down 1 s, start on its data"
}

restart_node_empty() {
  local victim at hits=false
  victim=$(node_of "$1" "$2"); at=$(now_ms)
  [[ $2 == primary ]] && hits=true
  compose restart "$victim" >/dev/null
  log_fault restart-node-empty "$victim" "[$1]" "$hits" "$at" "$(now_ms)" "the $2: docker compose restart (SIGTERM), started again empty"
}

harness_pid=""
cleanup() {
  local status=$?
  if [[ -n $harness_pid ]] && kill -0 "$harness_pid" 2>/dev/null; then kill -TERM "$harness_pid" 2>/dev/null || true; wait "$harness_pid" || true; fi
  [[ ${KEEP:-0} == 1 ]] || compose down -v --remove-orphans >/dev/null 2>&1 || true
  exit "$status"
}
main() {
  trap cleanup EXIT
  trap 'exit 130' INT TERM

  [[ -f $HARNESS ]] || npm run build
  OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/shardcache-chaos-compose.XXXXXX")}
  FAULTS_LOG="$OUT/faults.jsonl"
  say "output in $OUT"
  compose up -d --build --wait
  node "$HARNESS" --print-schedule --profile "$PROFILE" --duration "$DURATION" --seed "$SEED" --shards 3 --proxies 2 > "$OUT/schedule.txt"
  : > "$FAULTS_LOG"
  node "$HARNESS" --external --profile "$PROFILE" --seed "$SEED" --duration $((DURATION + 300)) --lease-ttl "$LEASE_TTL" \
    --proxy-urls "$PROXY_URLS" --etcd "$ETCD" --cluster "$CLUSTER" --node-admins "$NODE_ADMINS" --shards 3 --replicas 1 \
    --faults-log "$FAULTS_LOG" --report-json "$OUT/report.json" &
  harness_pid=$!
  sleep 8 # ballast and warm-up

  while read -r kind target role gap_ms; do
    case $kind in
      kill-primary) kill_primary "$target" ;;
      stop-primary) stop_primary "$target" ;;
      kill-replica-in-sync) kill_replica_in_sync "$target" ;;
      restart-proxy) restart_proxy "$target" ;;
      restart-etcd) restart_etcd ;;
      restart-node-empty) restart_node_empty "$target" "$role" ;;
      *) say "unknown fault $kind"; exit 2 ;;
    esac
    wait_whole
    sleep "$((gap_ms / 1000))"
  done < "$OUT/schedule.txt"

  echo '{"event":"end"}' >> "$FAULTS_LOG"
  local status=0
  wait "$harness_pid" || status=$?
  harness_pid=""
  exit "$status"
}

# Sourced (by the tests), it only defines the functions above.
[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
