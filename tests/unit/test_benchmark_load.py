"""The wrk settings of benchmarks/load.py: the Lua script each one hands wrk."""
from benchmarks.load import Load


def test_saturation_keep_alive_needs_no_script():
    assert Load(connections=8).script() == ""


def test_paced_new_connections_close_each_and_wait_between_requests():
    assert Load(connections=5, delay_ms=4, new_connections=True).script() == \
        'wrk.headers["Connection"] = "close"\nfunction delay() return 4 end\n'
