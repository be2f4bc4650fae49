"""MySQL between containers: Debian's mariadb client in one container, mariadbd in another, on a Docker
network; the agent's /metrics counts each outcome exactly on the client -> db edge."""
from __future__ import annotations

import pytest

from tests.helpers.agent_metrics import requests_between
from tests.helpers.docker_env import DockerEnv, run_client_once_named, wait_until

GOOD, SYNTAX_ERRORS, UNKNOWN_TABLES = 30, 4, 3
SCRIPT = "select 1;\n" * GOOD + "selec 1;\n" * SYNTAX_ERRORS + "select * from no_such_table;\n" * UNKNOWN_TABLES

# a throwaway data directory, no grant checks; as root, which mariadbd allows when told so
DB = ("mariadb-install-db --no-defaults --user=root --datadir=/tmp/data --skip-test-db "
      "--auth-root-authentication-method=normal > /tmp/install.log 2>&1 && "
      "exec mariadbd --no-defaults --user=root --datadir=/tmp/data --socket=/tmp/socket --port=3306 "
      "--skip-grant-tables --skip-log-bin --innodb-buffer-pool-size=16M")
# waits for /tmp/go (the agent has named both containers), then runs the script and says "done"
CLIENT = ("while [ ! -e /tmp/go ]; do sleep 0.1; done; "
          "printf '%s' \"$1\" | mariadb --no-defaults -h \"$2\" -u root --force mysql 2>&1; echo done; sleep 3600")


@pytest.mark.docker
def test_mariadb_client_outcomes_between_containers(agent_url):
    env = DockerEnv()
    try:
        namespace = env.name("mysql-shop")
        network = env.network("mysql-shop")
        db = env.run("mysql-db", "sh", "-c", DB, compose=(namespace, "db"), network=network)
        env.wait_listening(db, 3306, timeout=120)
        client = env.run("mysql-client", "sh", "-c", CLIENT, "client", SCRIPT, db.ip,
                         compose=(namespace, "client"), network=network)
        output = run_client_once_named(env, agent_url, namespace, client, "db")
        assert output.count("ERROR 1064 (42000)") == SYNTAX_ERRORS, output
        assert output.count("ERROR 1146 (42S02)") == UNKNOWN_TABLES, output
        # both ends run on this host: the edge is reported at the server's end
        expected = {("mysql", "ok", "server"): GOOD, ("mysql", "1064", "server"): SYNTAX_ERRORS,
                    ("mysql", "1146", "server"): UNKNOWN_TABLES}
        wait_until(lambda: requests_between(agent_url, namespace, "client", "db") == expected, 30,
                   f"{expected} on client -> db", 0.5)
    finally:
        env.close()
