#!/usr/bin/env bash
# The voting-app demo (examples/voting-app) on this host, watched by Intuition. Run as root.
#   scripts/demo.sh up [--listen 127.0.0.1:9470]   set up, start dockerd if needed, build the images, make
#                                                 a Swarm if there is none, deploy the stack `voting`, run
#                                                 the agent with its dashboard; prints what to open and try
#   scripts/demo.sh fault NAME on|off             flip a fault switch while watching the map; NAME is one of
#                                                 vote-500, worker-42P01, result-slow, redis-away
#   scripts/demo.sh down                          remove all of it: the agent, the stack, its images, and the
#                                                 Swarm, dockerd and base image only if `up` made them
# up and down are idempotent.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
app=$here/examples/voting-app
stack=voting
services=(vote redis worker db result loadgen)
repository=intuition-voting          # images: intuition-voting/<service>
demo_label=org.intuition.demo=voting  # every image of the demo carries it (examples/voting-app/Dockerfile)
state=/var/lib/intuition-demo         # what `up` made, so that `down` removes exactly that
agent_pidfile=$state/agent.pid
agent_listenfile=$state/agent.listen
agent_log=/var/log/intuition-demo-agent.log
dockerd_log=/var/log/intuition-demo-dockerd.log
wait_seconds=180

say() { printf '[demo] %s\n' "$*"; }
die() { printf '[demo] ERROR: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }

# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds, or die naming WHAT
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${seconds} s waiting for $what"
    sleep 1
  done
}

made() { [ -e "$state/made-$1" ]; }       # did `up` make this (swarm, dockerd, base-image)?
remember() { touch "$state/made-$1"; }

agent_pid() {
  local pid
  pid=$(cat "$agent_pidfile" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

published() {  # published URLs of a service's running containers, one a line
  docker ps --filter "label=com.docker.swarm.service.name=${stack}_$1" --filter status=running \
    --format '{{.Ports}}' | grep -oE '0\.0\.0\.0:[0-9]+' | sed 's|^0\.0\.0\.0|http://127.0.0.1|' | sort -u
}

running_containers() {  # ids of the running containers of the stack's service $1
  docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_$1" --filter status=running
}

running_tasks() {  # running containers of the stack's service $1 equal $2
  [ "$(running_containers "$1" | wc -l)" = "$2" ]
}

up() {
  local listen=127.0.0.1:9470
  while [ $# -gt 0 ]; do
    case "$1" in
      --listen) [ $# -ge 2 ] || die "--listen needs an address, e.g. 127.0.0.1:9470"; listen=$2; shift 2 ;;
      *) die "unknown argument '$1' for up (try --help)" ;;
    esac
  done
  mkdir -p "$state"

  bash "$here/scripts/setup.sh"
  if ! command -v dockerd >/dev/null; then
    say "installing docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  fi
  if ! docker info >/dev/null 2>&1; then
    say "starting dockerd (log: $dockerd_log)"
    setsid -f dockerd >>"$dockerd_log" 2>&1 </dev/null
    remember dockerd
    wait_for 60 "dockerd to answer (log: $dockerd_log)" docker info
  fi

  local base
  base=$("$here/scripts/build-base-image.sh" --print)
  docker image inspect "$base" >/dev/null 2>&1 || remember base-image
  "$here/scripts/build-base-image.sh"
  for service in "${services[@]}"; do
    say "image $repository/$service"
    docker build -q --build-arg "BASE_IMAGE=$base" --target "$service" -t "$repository/$service" "$app" >/dev/null
  done

  if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    say "making a single-node Swarm on 127.0.0.1"
    docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
    remember swarm
  fi
  if agent_pid >/dev/null; then
    listen=$(cat "$agent_listenfile")
    say "the agent is running already (pid $(agent_pid), on $listen)"
  else
    say "starting the agent on $listen (log: $agent_log)"
    setsid "$here/.venv/bin/intuition" run --listen "$listen" >>"$agent_log" 2>&1 </dev/null &
    echo $! >"$agent_pidfile"
    echo "$listen" >"$agent_listenfile"
  fi
  wait_for "$wait_seconds" "the agent to be healthy (log: $agent_log)" \
    "$here/.venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://$listen/healthz', timeout=5)"
  # after the agent: it tells a connection's protocol from its start, and the worker's to db lasts
  say "deploying the stack '$stack'"
  docker stack deploy --resolve-image never --compose-file "$app/stack.yml" "$stack" >/dev/null

  wait_for "$wait_seconds" "two running vote tasks" running_tasks vote 2
  wait_for "$wait_seconds" "a running result task" running_tasks result 1

  cat <<EOF

The map:   http://$listen/#/$stack   (the '$stack' region; traffic shows within seconds)
Vote:      $(published vote | paste -sd ' ')   (one per replica; Docker picks the ports)
Results:   $(published result)
loadgen votes and reads the results 3 times a second. Flip a fault and watch the map (within 10 s):
  sudo scripts/demo.sh fault vote-500 on       # 30% of votes fail with 500: red dots on INTERNET -> vote
  sudo scripts/demo.sh fault worker-42P01 on   # the worker inserts into a missing table: 42P01 on worker -> db
  sudo scripts/demo.sh fault result-slow on    # results 300 ms slower: result's p50 above 300 ms
  sudo scripts/demo.sh fault redis-away on     # redis restarts without its server: refused connects on vote -> redis
and back with 'off'. Stop it all: sudo scripts/demo.sh down
EOF
}

# switch_variable SERVICE VARIABLE VALUE on|off: the service's tasks restart with the variable set or removed
switch_variable() {
  local change=(--env-rm "$2")
  [ "$4" = off ] || change=(--env-add "$2=$3")
  docker service update --detach "${change[@]}" "${stack}_$1" >/dev/null
  say "$1: ${change[*]} (its tasks restart)"
}

# switch_file SERVICE FILE VALUE on|off: written into (or removed from) its running containers, no restart
switch_file() {
  local ids id
  ids=$(running_containers "$1")
  [ -n "$ids" ] || die "no running $1 container: is the demo up? (sudo scripts/demo.sh up)"
  for id in $ids; do
    if [ "$4" = on ]; then
      docker exec "$id" sh -c "echo $3 > $2"
    else
      docker exec "$id" rm -f "$2"
    fi
  done
  say "$1: $2 $([ "$4" = on ] && echo "holds $3" || echo removed) (live, no restart)"
}

fault() {
  local names="vote-500, worker-42P01, result-slow, redis-away"
  [ $# = 2 ] && { [ "$2" = on ] || [ "$2" = off ]; } || die "usage: demo.sh fault NAME on|off; NAME is one of $names"
  docker service inspect "${stack}_vote" >/dev/null 2>&1 || die "the stack '$stack' is not deployed: sudo scripts/demo.sh up"
  case "$1" in
    vote-500) switch_variable vote FAIL_PERCENT 30 "$2" ;;
    worker-42P01) switch_variable worker VOTES_TABLE missing_votes "$2" ;;
    # live: result's p50 is a median over the map's 10-s window, and a restart would add its own seconds
    result-slow) switch_file result /tmp/delay_ms 300 "$2" ;;
    redis-away) switch_variable redis AWAY 1 "$2" ;;
    *) die "unknown fault '$1'; one of $names" ;;
  esac
}

down() {
  local pid
  if pid=$(agent_pid); then
    say "stopping the agent (pid $pid)"
    kill "$pid"
    wait_for 30 "the agent to exit" sh -c "! kill -0 $pid"
  fi
  rm -f "$agent_pidfile" "$agent_listenfile"

  if docker info >/dev/null 2>&1; then
    if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = active ] \
       && docker stack ls --format '{{.Name}}' | grep -qx "$stack"; then
      say "removing the stack '$stack'"
      docker stack rm "$stack" >/dev/null
    fi
    # stack rm returns at once; its containers and then its network go away asynchronously
    wait_for 120 "the stack's containers to go" \
      sh -c "[ -z \"\$(docker ps -aq --filter label=com.docker.stack.namespace=$stack)\" ]"
    wait_for 60 "the stack's network to go" \
      sh -c "[ -z \"\$(docker network ls -q --filter label=com.docker.stack.namespace=$stack)\" ]"
    local images
    images=$(docker images -q --filter "label=$demo_label" | sort -u)
    if [ -n "$images" ]; then
      say "removing the demo's images"
      # shellcheck disable=SC2086
      docker rmi -f $images >/dev/null
    fi
    if made base-image; then
      say "removing the base image (up built it)"
      docker rmi "$("$here/scripts/build-base-image.sh" --print)" >/dev/null 2>&1 || true
    fi
    if made swarm; then
      say "leaving the Swarm (up made it)"
      docker swarm leave --force >/dev/null
      docker network rm docker_gwbridge >/dev/null 2>&1 || true  # Swarm made it; nothing else uses it
    fi
    if made dockerd; then
      say "stopping dockerd (up started it)"
      kill "$(cat /var/run/docker.pid)"
      wait_for 60 "dockerd to exit" sh -c "! docker info"
    fi
  fi
  rm -rf "$state"
  say "down: nothing of the demo is left"
}

[ "$(id -u)" = 0 ] || die "run as root (sudo scripts/demo.sh ...): it runs dockerd, Swarm and the eBPF agent"
case "${1:-}" in
  up) shift; up "$@" ;;
  fault) shift; fault "$@" ;;
  down) shift; [ $# = 0 ] || die "down takes no arguments"; down ;;
  -h|--help) usage ;;
  *) usage >&2; exit 2 ;;
esac
