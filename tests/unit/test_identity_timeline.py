"""Container events for the timeline, from Docker's event stream as the daemon sends it."""
from tests.unit.identity_samples import record
from tracer.identity.timeline import ContainerEvent, ContainerEvents

LABELS = {"com.docker.compose.project": "shop", "com.docker.compose.service": "api"}


def event(action: str, image: str, t: float, name: str = "shop-api-1") -> dict:
    return {"Type": "container", "Action": action, "timeNano": int(t * 1e9),
            "Actor": {"ID": "c" * 64, "Attributes": {**LABELS, "name": name, "image": image, "exitCode": "0"}}}


def test_starts_deaths_ooms_and_a_new_image_are_recorded_by_service():
    events = ContainerEvents()
    events.record(event("start", "api:1", 100.0))
    events.record(event("exec_start: sh", "api:1", 101.0))  # not a timeline event
    events.record(event("oom", "api:1", 102.0))
    events.record(event("die", "api:1", 103.0))
    events.record(event("start", "api:1", 104.0, "shop-api-2"))  # a restart: same image
    events.record(event("start", "api:2", 105.0, "shop-api-3"))  # a deployment
    assert events.since(102.0) == [
        ContainerEvent(102.0, "oom", "api", "shop", "shop-api-1"),
        ContainerEvent(103.0, "die", "api", "shop", "shop-api-1"),
        ContainerEvent(104.0, "start", "api", "shop", "shop-api-2"),
        ContainerEvent(105.0, "start", "api", "shop", "shop-api-3"),
        ContainerEvent(105.0, "image", "api", "shop", "shop-api-3"),
    ]


def test_the_images_running_at_a_resync_count_as_known():
    events = ContainerEvents()
    events.seed([record(1, "shop-api-1", labels=LABELS)])  # runs intuition-test:1
    events.record(event("start", "intuition-test:1", 4.0, "shop-api-2"))
    events.record(event("start", "intuition-test:2", 5.0, "shop-api-3"))
    assert [e.kind for e in events.since(0)] == ["start", "start", "image"]


def test_the_oldest_events_are_forgotten():
    events = ContainerEvents(max_events=2)
    for t in range(3):
        events.record(event("die", "api:1", float(t)))
    assert [e.t for e in events.since(0)] == [1.0, 2.0]
