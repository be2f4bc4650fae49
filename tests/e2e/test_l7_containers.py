"""HTTP and PostgreSQL between containers, as real deployments run them (issue 11): Debian's nginx in one
container and curl in another, PostgreSQL's server in one and psql in another, each pair on a Docker network of
its own; the agent's /metrics counts each outcome exactly on the client -> server edge, against nginx's access
log and psql's own error output. tests/e2e/test_mysql_containers.py does the same for MySQL."""
from __future__ import annotations

from collections import Counter

import pytest

from tests.docker.conftest import docker_env  # noqa: F401 (the fixture these tests use)
from tests.helpers.agent_metrics import requests_between
from tests.helpers.docker_env import run_client_once_named, wait_until
from tests.helpers.servers import NGINX, PG_BIN, nginx_conf_in_container

pytestmark = pytest.mark.docker

OK, FAILED, MISSING = 30, 4, 3
# curl's URL globbing: the requests of a range go on one connection, one after the other
PATHS = [f"/ok/[1-{OK}]", f"/fail/[1-{FAILED}]", f"/missing/[1-{MISSING}]"]
NGINX_BASE = "/tmp/nginx"
# writes the configuration given as $1, then runs nginx in the foreground
NGINX_SERVER = (f"mkdir -p {NGINX_BASE}/empty && printf '%s' \"$1\" > {NGINX_BASE}/nginx.conf && "
                f"exec {NGINX} -p {NGINX_BASE} -c {NGINX_BASE}/nginx.conf -e {NGINX_BASE}/error.log")
# waits for /tmp/go (the agent has named both containers), runs its requests and says "done"
# (set -f: the ranges are curl's, not the shell's)
CURL_CLIENT = ("set -f; while [ ! -e /tmp/go ]; do sleep 0.1; done; "
               "for path in $2; do curl -sS \"http://$1$path\" > /dev/null; done; echo done; sleep 3600")

GOOD_SQL, SYNTAX_ERRORS, UNKNOWN_TABLES = 30, 4, 3
SCRIPT = "select 1;\n" * GOOD_SQL + "selec 1;\n" * SYNTAX_ERRORS + "select * from no_such_table;\n" * UNKNOWN_TABLES
# a throwaway cluster, as the image's postgres user, trusting every client on its test network
POSTGRES_SERVER = (f"{PG_BIN}/initdb -D /tmp/data -A trust --no-sync > /tmp/initdb.log 2>&1 && "
                   "echo 'host all all all trust' >> /tmp/data/pg_hba.conf && "
                   f"exec {PG_BIN}/postgres -D /tmp/data -k /tmp -c listen_addresses='*' -c fsync=off")
PSQL_CLIENT = ("while [ ! -e /tmp/go ]; do sleep 0.1; done; "
               f"printf '%s' \"$1\" | {PG_BIN}/psql -h \"$2\" -U postgres -X -q 2>&1; echo done; sleep 3600")


def test_curl_to_nginx_between_containers_counts_each_status_exactly(agent_url, docker_env):
    namespace = docker_env.name("s5audit-web")
    network = docker_env.network("s5audit-web")
    server = docker_env.run("s5audit-nginx", "sh", "-c", NGINX_SERVER, "nginx",
                            nginx_conf_in_container(NGINX_BASE, 80), compose=(namespace, "server"), network=network)
    docker_env.wait_listening(server, 80)
    client = docker_env.run("s5audit-curl", "sh", "-c", CURL_CLIENT, "client", server.ip, " ".join(PATHS),
                            compose=(namespace, "client"), network=network)
    output = run_client_once_named(docker_env, agent_url, namespace, client, "server")
    assert output.strip() == "done", output
    logged = Counter(docker_env.exec(server.id, "cat", f"{NGINX_BASE}/access.log").split())
    assert logged == {"200": OK, "500": FAILED, "404": MISSING}, logged
    # both ends run on this host: the edge is reported at the server's end
    expected = {("http", "200", "server"): OK, ("http", "500", "server"): FAILED,
                ("http", "404", "server"): MISSING}
    wait_until(lambda: requests_between(agent_url, namespace, "client", "server") == expected, 30,
               f"{expected} on client -> server", 0.5)


def test_psql_to_postgres_between_containers_counts_each_sqlstate_exactly(agent_url, docker_env):
    namespace = docker_env.name("s5audit-sql")
    network = docker_env.network("s5audit-sql")
    server = docker_env.run("s5audit-postgres", "sh", "-c", POSTGRES_SERVER, compose=(namespace, "server"),
                            network=network, user="postgres")
    docker_env.wait_listening(server, 5432, timeout=120)
    client = docker_env.run("s5audit-psql", "sh", "-c", PSQL_CLIENT, "client", SCRIPT, server.ip,
                            compose=(namespace, "client"), network=network)
    output = run_client_once_named(docker_env, agent_url, namespace, client, "server")
    assert output.count("syntax error") == SYNTAX_ERRORS, output
    assert output.count("does not exist") == UNKNOWN_TABLES, output
    expected = {("postgres", "ok", "server"): GOOD_SQL, ("postgres", "42601", "server"): SYNTAX_ERRORS,
                ("postgres", "42P01", "server"): UNKNOWN_TABLES}
    wait_until(lambda: requests_between(agent_url, namespace, "client", "server") == expected, 30,
               f"{expected} on client -> server", 0.5)
