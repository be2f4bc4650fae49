"""End to end: real probes, real containers, real traffic; every flow named by container and service."""
import subprocess

import pytest

from tests.docker.conftest import Edges, start_identity
from tests.helpers.docker_env import ensure_dockerd, live_restore, stop_dockerd, wait_until, wget_loop
from tests.helpers.servers import free_port

pytestmark = [pytest.mark.docker, pytest.mark.kernel]
HTTP_SERVER = ("python3", "-m", "http.server", "80")


def curl(url: str, count: int) -> None:
    for _ in range(count):
        subprocess.run(["curl", "-sf", "-o", "/dev/null", "--max-time", "10", url], check=True)


@pytest.fixture
def shop_api(docker_env):
    """shop/api: an HTTP server on a user-defined bridge network, also published on a loopback port."""
    net = docker_env.network("shop")
    port = free_port()
    api = docker_env.run("api", *HTTP_SERVER, compose=("shop", "api"), network=net, ports={80: ("127.0.0.1", port)})
    docker_env.wait_listening(api, 80)
    return net, api, port


def test_compose_web_to_api_is_named_from_both_ends(docker_env, shop_api, edges):
    net, api, _ = shop_api
    web = docker_env.run("web", "sleep", "600", compose=("shop", "web"), network=net)
    docker_env.exec(web.id, *wget_loop(f"http://{docker_env.name('api')}/", 5))
    edges.wait_for(lambda e: e.opens("shop/web", "shop/api", "client") >= 5
                   and e.opens("shop/web", "shop/api", "server") >= 5, "shop/web -> shop/api from both ends")
    edges.poll()
    assert edges.opens("shop/web", "shop/api", "client") == 5
    assert edges.opens("shop/web", "shop/api", "server") == 5


def test_short_lived_container_started_after_the_agent_is_named(docker_env, shop_api, edges):
    net, api, _ = shop_api
    brief = docker_env.run("brief", *wget_loop(f"http://{api.ip}/", 10), compose=("shop", "brief"), network=net)
    wait_until(lambda: not docker_env.api.inspect_container(brief.id)["State"]["Running"], 30, "the burst to end")
    assert docker_env.api.inspect_container(brief.id)["State"]["ExitCode"] == 0
    docker_env.api.remove_container(brief.id)
    edges.wait_for(lambda e: e.opens("shop/brief", "shop/api", "client") >= 10
                   and e.opens("shop/brief", "shop/api", "server") >= 10, "the burst named after the container left")
    assert edges.opens("shop/brief", "shop/api", "client") == 10
    assert not [k for k in edges.counters if k[0].startswith("host/host:") and k[1] == "shop/api"]


def test_published_port_is_internet_and_the_container_ip_is_the_host_process(shop_api, edges):
    _, api, port = shop_api
    curl(f"http://127.0.0.1:{port}/", 3)
    edges.wait_for(lambda e: e.opens("INTERNET", "shop/api", "server") >= 3
                   and e.opens("INTERNET", "shop/api", "client") >= 3, "INTERNET -> shop/api")
    assert edges.opens("host/host:curl", "INTERNET", "client") == 3  # curl called the public entrance
    assert not [k for k in edges.counters if "docker-proxy" in k[0] + k[1]]
    assert edges.opens("host/host:curl", "shop/api", "server") == 0

    curl(f"http://{api.ip}/", 3)
    edges.wait_for(lambda e: e.opens("host/host:curl", "shop/api", "server") >= 3
                   and e.opens("host/host:curl", "shop/api", "client") >= 3, "host:curl -> shop/api")
    assert edges.opens("INTERNET", "shop/api", "server") == 3  # unchanged by the direct calls


def test_intuition_service_label_names_the_flows(docker_env, edges):
    checkout = docker_env.run("co", *HTTP_SERVER, compose=("shop", "payments"), labels={"intuition.service": "checkout"})
    docker_env.wait_listening(checkout, 80)
    curl(f"http://{checkout.ip}/", 2)
    edges.wait_for(lambda e: e.opens("host/host:curl", "shop/checkout", "server") >= 2, "shop/checkout")
    assert not [k for k in edges.counters if "payments" in k[1]]


def test_daemon_restart_while_traffic_flows(exclusive_docker, collector):
    env = exclusive_docker
    with live_restore():
        net = env.network("shop")
        api = env.run("api", *HTTP_SERVER, compose=("shop", "api"), network=net)
        env.wait_listening(api, 80)
        identity = start_identity()
        try:
            edges = Edges(collector, identity)
            env.run("web", *wget_loop(f"http://{api.ip}/", 300, 0.2), compose=("shop", "web"), network=net)
            edges.wait_for(lambda e: e.opens("shop/web", "shop/api", "client") >= 3, "traffic before the restart")
            resyncs = identity.resyncs
            stop_dockerd()
            before = edges.opens("shop/web", "shop/api", "client")
            edges.wait_for(lambda e: not identity.docker_connected
                           and e.opens("shop/web", "shop/api", "client") >= before + 3, "traffic named while down")
            ensure_dockerd()
            wait_until(lambda: identity.resyncs > resyncs and identity.docker_connected, 5, "a resync within 5 s")
            late = env.run("late", *wget_loop(f"http://{api.ip}/", 5), compose=("shop", "late"), network=net)
            edges.wait_for(lambda e: e.opens("shop/late", "shop/api", "client") >= 5, "a container started after")
            assert env.api.inspect_container(late.id)["State"]["ExitCode"] == 0
        finally:
            identity.stop()
    # every flow of the web and late containers was named after them, before, during and after the outage
    unnamed = [k for k in edges.counters if k[1] == "shop/api" and k[0] not in ("shop/web", "shop/late")]
    assert unnamed == []
