"""Identity against the real Docker engine: listing, events, naming labels, daemon restarts and Swarm."""
import os
import tempfile

import pytest

from tests.docker.conftest import container_cgroup_id, service_of, start_identity
from tests.helpers.docker_env import ensure_dockerd, live_restore, stop_dockerd, wait_until
from tracer.identity import Endpoint

pytestmark = pytest.mark.docker
NAMING_SECONDS = 10  # events are applied within milliseconds; generous for a loaded machine


def wait_named(identity, service, namespace, count=1):
    return wait_until(lambda: (s := service_of(identity, service, namespace)) and len(s.containers) == count and s,
                      NAMING_SECONDS, f"{namespace}/{service} with {count} container(s)")


def test_compose_containers_are_named_with_their_ips_and_cgroups(docker_env, identity):
    net = docker_env.network("shop")
    api = docker_env.run("api", "sleep", "600", compose=("shop", "api"), network=net)
    web = docker_env.run("web", "sleep", "600", compose=("shop", "web"), network=net)
    info = wait_named(identity, "api", "shop").containers[0]
    wait_named(identity, "web", "shop")
    assert (info.id, info.name, info.image, info.state, info.node) == (
        api.id, api.name, docker_env.image, "running", identity.node)
    assert info.started_at is not None and info.task_slot is None
    api_end, web_end = Endpoint("api", "shop", api.id), Endpoint("web", "shop", web.id)
    assert identity.local(container_cgroup_id(docker_env, api.id), api.pid, "sleep") == api_end
    assert identity.local(0, web.pid, "sleep") == web_end  # no cgroup id: found from /proc/<tgid>/cgroup
    assert identity.peer(api.ip, web_end) == api_end
    assert identity.peer("127.0.0.1", web_end) == web_end
    assert (api.ip, api_end) in identity.endpoints()


def test_intuition_service_label_overrides_compose(docker_env, identity):
    c = docker_env.run("co", "sleep", "600", compose=("shop", "payments"), labels={"intuition.service": "checkout"})
    wait_named(identity, "checkout", "shop")
    assert identity.local(container_cgroup_id(docker_env, c.id), c.pid, "sleep") == Endpoint("checkout", "shop", c.id)


def test_rename_stop_and_remove_follow_events(docker_env, identity):
    c = docker_env.run("plain", "sleep", "600")
    wait_named(identity, c.name, "default")
    cgroup_id = container_cgroup_id(docker_env, c.id)
    docker_env.api.rename(c.id, docker_env.name("renamed"))
    wait_named(identity, docker_env.name("renamed"), "default")
    assert service_of(identity, c.name, "default") is None
    docker_env.api.stop(c.id, timeout=0)
    wait_until(lambda: service_of(identity, docker_env.name("renamed"), "default").containers[0].state == "exited",
               NAMING_SECONDS, "the stopped state")
    assert all(ip != c.ip for ip, _ in identity.endpoints())
    docker_env.api.remove_container(c.id)
    wait_until(lambda: service_of(identity, docker_env.name("renamed"), "default") is None, NAMING_SECONDS, "removal")
    # flows drained just after the removal are still named
    assert identity.local(cgroup_id, c.pid, "sleep") == Endpoint(docker_env.name("renamed"), "default", c.id)


def test_network_connect_and_disconnect_update_the_ip_table(docker_env, identity):
    c = docker_env.run("multi", "sleep", "600", compose=("shop", "multi"))
    wait_named(identity, "multi", "shop")
    extra = docker_env.network("extra")
    docker_env.api.connect_container_to_network(c.id, extra)
    extra_ip = docker_env.api.inspect_container(c.id)["NetworkSettings"]["Networks"][extra]["IPAddress"]
    end = Endpoint("multi", "shop", c.id)
    wait_until(lambda: (extra_ip, end) in identity.endpoints(), NAMING_SECONDS, "the new network's IP")
    docker_env.api.disconnect_container_from_network(c.id, extra)
    wait_until(lambda: (extra_ip, end) not in identity.endpoints(), NAMING_SECONDS, "the IP to be released")


def test_short_lived_container_is_named_after_it_is_gone(docker_env, identity):
    with tempfile.TemporaryDirectory() as gate:
        c = docker_env.run("brief", "sh", "-c", "while [ ! -e /gate/go ]; do sleep 0.05; done",
                           compose=("shop", "brief"), binds=(f"{gate}:/gate",), auto_remove=True)
        cgroup_id = container_cgroup_id(docker_env, c.id)
        wait_named(identity, "brief", "shop")  # identity saw it start; nothing looked its cgroup up yet
        open(os.path.join(gate, "go"), "w").close()
        wait_until(lambda: not docker_env.api.containers(all=True, filters={"id": c.id}), 30, "the container to go")
    assert not os.path.exists(f"/proc/{c.pid}")
    assert identity.local(cgroup_id, c.pid, "sh") == Endpoint("brief", "shop", c.id)


def test_daemon_restart_with_live_restore_resyncs(exclusive_docker):
    env = exclusive_docker
    with live_restore():
        kept = env.run("kept", "sleep", "600", compose=("shop", "kept"))
        identity = start_identity()
        try:
            wait_named(identity, "kept", "shop")
            cgroup_id, resyncs = container_cgroup_id(env, kept.id), identity.resyncs
            stop_dockerd()
            wait_until(lambda: not identity.docker_connected, 30, "identity to notice the daemon is gone")
            assert identity.local(cgroup_id, kept.pid, "sleep") == Endpoint("kept", "shop", kept.id)
            ensure_dockerd()  # returns once the daemon answers
            wait_until(lambda: identity.resyncs > resyncs and identity.docker_connected, 5, "a resync within 5 s")
            assert service_of(identity, "kept", "shop").containers[0].state == "running"
            late = env.run("late", "sleep", "600", compose=("shop", "late"))
            wait_named(identity, "late", "shop")
            assert identity.local(container_cgroup_id(env, late.id), late.pid, "sleep") == Endpoint("late", "shop", late.id)
        finally:
            identity.stop()


def test_swarm_replicas_task_slots_stack_prefix_and_virtual_ips(exclusive_docker):
    env = exclusive_docker
    with env.swarm():
        identity = start_identity()
        try:
            web = env.service("web", "sleep", "600", replicas=2)
            env.service_containers(web, 2)
            service = wait_named(identity, web, "default", count=2)
            assert sorted(c.task_slot for c in service.containers) == [1, 2]
            assert {c.state for c in service.containers} == {"running"}

            stack = f"st{env.run_id}"
            env.stack_deploy(stack, {"api": ["sleep", "600"]})
            api, = env.service_containers(f"{stack}_api", 1)
            wait_named(identity, "api", stack)
            assert identity.local(0, api.pid, "sleep") == Endpoint("api", stack, api.id)

            overlay = env.overlay_network("front")
            front = env.service("front", "sleep", "600", vip=True, networks=(overlay,))
            vips = wait_until(lambda: env.api.inspect_service(front)["Endpoint"].get("VirtualIPs"), 30,
                              "Swarm to allocate the virtual IP")
            vip = vips[0]["Addr"].split("/")[0]
            wait_until(lambda: (vip, Endpoint(front, "default", None)) in identity.endpoints(), NAMING_SECONDS,
                       "the service's virtual IP")
        finally:
            identity.stop()
