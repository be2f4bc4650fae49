#!/bin/sh
# redis: Debian's redis-server, in memory only.
# Fault switch (scripts/demo.sh fault redis-away on|off, through `docker service update`): AWAY=1 keeps
# the container (its name and address stay known) but starts no server, so every connect to it is refused.
if [ "${AWAY:-0}" = 1 ]; then
  echo "AWAY=1: not starting redis-server" >&2
  exec sleep infinity
fi
exec redis-server --bind 0.0.0.0 --port 6379 --protected-mode no --save '' --appendonly no
