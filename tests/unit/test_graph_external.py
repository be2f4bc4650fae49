"""Outside peers named by DNS on the graph: the top `external_names` by traffic keep their names, the rest are
folded into INTERNET; container peers keep their own names whatever DNS says."""
from tests.unit.graph_fakes import API, API_IP, WEB, FakeIdentity, client_for, flow, key, make_graph, requests, tick
from tracer.graph.external import ExternalNames
from tracer.identity import EXTERNAL_NAMESPACE, INTERNET, Endpoint
from tracer.identity.naming import external_endpoint


def outside(count: int) -> dict[str, Endpoint]:
    """address -> the DNS name web resolved to it, for `count` outside addresses."""
    return {f"203.0.113.{i}": external_endpoint(f"name-{i:02}.example.com") for i in range(count)}


def external_services(graph) -> set[str]:
    return {n.service for n in graph.view().nodes if n.namespace == EXTERNAL_NAMESPACE}


def internet_requests(graph) -> int:
    edge = next(e for e in graph.view().edges if e.pair == ("web", "shop", "INTERNET", ""))
    return sum(count for _, _, count in edge.statuses)


def test_fifty_names_with_a_cap_of_ten_keep_the_ten_busiest_and_fold_the_rest_into_internet():
    addresses = outside(50)
    graph, clock = make_graph(FakeIdentity(processes={1: WEB}, addresses=addresses), external_names=10)
    # name i carries i + 1 requests of 100 bytes each, all in one drain
    tick(graph, clock, *[flow(key(1, addr), requests("http", "200", i + 1), bytes_sent=100 * (i + 1))
                         for i, addr in enumerate(addresses)])
    assert external_services(graph) == {f"name-{i:02}.example.com" for i in range(40, 50)}
    assert internet_requests(graph) == sum(range(1, 41))
    pairs = graph.pairs()
    assert ("web", "shop", "name-49.example.com", EXTERNAL_NAMESPACE) in pairs
    assert ("web", "shop", "name-39.example.com", EXTERNAL_NAMESPACE) not in pairs


def test_the_api_shows_a_kept_name_with_its_exact_requests():
    addresses = outside(1)
    identity = FakeIdentity(processes={1: WEB}, addresses=addresses)
    graph, clock = make_graph(identity)
    tick(graph, clock, flow(key(1, "203.0.113.0"), requests("http", "200", 7), bytes_sent=700))
    client = client_for(graph, identity)
    edge = client.get("/api/edges?client=web&server=name-00.example.com").get_json()
    assert (edge["server_namespace"], [(r["status"], r["total"]) for r in edge["requests"]]) == (EXTERNAL_NAMESPACE, [("200", 7)])
    region = next(n for n in client.get("/api/graph").get_json()["nodes"] if n["name"] == EXTERNAL_NAMESPACE)
    assert [n["name"] for n in region["nodes"]] == ["name-00.example.com", "shop/web"]


def test_names_take_free_places_first_come_then_only_a_busier_name_takes_one():
    names = ExternalNames(limit=2, forget_after_seconds=3600)
    names.rank([("a", 10), ("b", 10)], now=1)
    names.rank([("c", 10)], now=2)  # as busy as the kept ones: they stay
    assert [names.shown(external_endpoint(n)).service for n in "abc"] == ["a", "b", "INTERNET"]
    names.rank([("c", 5)], now=3)  # 15 > 10: c takes the place of the least busy kept name (a, by name order)
    assert [names.shown(external_endpoint(n)).service for n in "abc"] == ["INTERNET", "b", "c"]


def test_names_quiet_for_longer_than_history_are_forgotten():
    names = ExternalNames(limit=1, forget_after_seconds=60)
    names.rank([("a", 1000)], now=0)
    names.rank([("b", 1)], now=30)
    assert names.shown(external_endpoint("b")) == INTERNET
    names.rank([("b", 1)], now=61)  # a has been quiet for 61 s: its place is free
    assert names.shown(external_endpoint("b")) == external_endpoint("b")
    assert names.shown(external_endpoint("a")) == INTERNET


def test_other_peers_are_never_folded():
    names = ExternalNames(limit=1, forget_after_seconds=60)
    assert names.shown(API) == API
    assert names.shown(INTERNET) == INTERNET


def test_a_container_peer_is_named_by_the_container_even_among_external_names():
    addresses = {**outside(3), API_IP: API}
    graph, clock = make_graph(FakeIdentity(processes={1: WEB}, addresses=addresses), external_names=1)
    tick(graph, clock, *[flow(key(1, addr), bytes_sent=10 * (i + 1)) for i, addr in enumerate(addresses)])
    assert ("web", "shop", "api", "shop") in graph.pairs()
    assert external_services(graph) == {"name-02.example.com"}
