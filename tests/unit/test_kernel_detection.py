"""cgroup layout detection from mountinfo text."""
from tracer.capture import kernel

V2 = "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
HYBRID = (
    "25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
    "26 25 0:23 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    "27 25 0:24 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
)


def test_pure_v2(tmp_path):
    f = tmp_path / "mountinfo"
    f.write_text(V2)
    assert kernel.cgroup_layout(str(f)) == kernel.CgroupLayout("v2", "/sys/fs/cgroup")


def test_hybrid_uses_the_v1_memory_hierarchy(tmp_path):
    f = tmp_path / "mountinfo"
    f.write_text(HYBRID)
    assert kernel.cgroup_layout(str(f)) == kernel.CgroupLayout("v1", "/sys/fs/cgroup/memory")


def test_no_cgroups(tmp_path):
    f = tmp_path / "mountinfo"
    f.write_text("22 1 0:5 / / rw - ext4 /dev/vda rw\n")
    assert kernel.cgroup_layout(str(f)) is None
