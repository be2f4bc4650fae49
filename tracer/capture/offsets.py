"""Every kernel struct field the probes read at an offset, as -D constant name -> (struct, member path).

The offsets come from the running kernel's BTF (tracer/capture/btf.py says why and reads them); the loader
passes them to the compiler. The layouts of the probes' own records are mirrored in tracer/capture/flows.py.
"""

# sock_common fields used to adopt sockets that predate the agent
SOCK_COMMON_OFFSETS = {
    "OFF_SKC_DADDR": ("sock", "__sk_common.skc_daddr"),
    "OFF_SKC_RCV_SADDR": ("sock", "__sk_common.skc_rcv_saddr"),
    "OFF_SKC_DPORT": ("sock", "__sk_common.skc_dport"),
    "OFF_SKC_NUM": ("sock", "__sk_common.skc_num"),
    "OFF_SKC_FAMILY": ("sock", "__sk_common.skc_family"),
    "OFF_SKC_NET": ("sock", "__sk_common.skc_net"),
    "OFF_SKC_V6_DADDR": ("sock", "__sk_common.skc_v6_daddr"),
    "OFF_SKC_V6_RCV_SADDR": ("sock", "__sk_common.skc_v6_rcv_saddr"),
}

# Without BTF: sock_common's leading fields, which sit at these offsets on every kernel.
SOCK_COMMON_FIXED = {
    "OFF_SKC_DADDR": 0, "OFF_SKC_RCV_SADDR": 4, "OFF_SKC_DPORT": 12, "OFF_SKC_NUM": 14, "OFF_SKC_FAMILY": 16,
    "OFF_SKC_NET": 48, "OFF_SKC_V6_DADDR": 56, "OFF_SKC_V6_RCV_SADDR": 72,
}

# The struct fields the probes read beyond sock_common.
SOCK_OFFSETS = {
    "OFF_SOCK_ERR": ("sock", "sk_err"),
    "OFF_SOCK_PROTOCOL": ("sock", "sk_protocol"),
}
# A TCP socket's own clock (probes/l7_io.c, io_time): when the kernel's TCP code last read it, and whether all that
# was written has been sent.
TCP_OFFSETS = {
    "OFF_TCP_CLOCK_CACHE": ("tcp_sock", "tcp_clock_cache"),
    "OFF_TCP_SND_NXT": ("tcp_sock", "snd_nxt"),
    "OFF_TCP_WRITE_SEQ": ("tcp_sock", "write_seq"),
}
# the network namespace's inode number, as /proc/<pid>/ns/net shows it (probes/lifecycle.c, socket_netns)
NET_OFFSETS = {"OFF_NET_NS_INUM": ("net", "ns.inum")}
TASK_OFFSETS = {
    "OFF_TASK_GROUP_LEADER": ("task_struct", "group_leader"),
    "OFF_TASK_COMM": ("task_struct", "comm"),
}
# vfs_writev's iov_iter, where the parsing end reads writev's iovecs from the kernel's copy (probes/l7_payload.c,
# payload_of_vectored_io); ITER_IOVEC and ITER_UBUF, its types for user iovecs and for a single one, come from the
# enum iter_type (their values moved in 6.4)
ITER_OFFSETS = {
    "OFF_ITER_TYPE": ("iov_iter", "iter_type"),
    "OFF_ITER_DATA_SOURCE": ("iov_iter", "data_source"),
    "OFF_ITER_IOV": ("iov_iter", "__iov"),
    "OFF_ITER_UBUF": ("iov_iter", "ubuf"),   # the same place: a single iovec's buffer
    "OFF_ITER_COUNT": ("iov_iter", "count"),
    "OFF_ITER_NR_SEGS": ("iov_iter", "nr_segs"),
}
# Where a send's bytes are in the kernel's copy (probes/l7_payload.c, payload_of_syscall): the task's page frag, what
# rules it out for a socket, and the slabs its addresses are learned from.
SENT_PAGES_OFFSETS = {
    "OFF_TASK_FRAG": ("task_struct", "task_frag"),
    "OFF_FRAG_PAGE": ("page_frag", "page"),
    "OFF_FRAG_OFFSET": ("page_frag", "offset"),
    "OFF_SOCK_USE_TASK_FRAG": ("sock", "sk_use_task_frag"),
    "OFF_ICSK_ULP_OPS": ("inet_connection_sock", "icsk_ulp_ops"),
    "OFF_SKC_PROT": ("sock", "__sk_common.skc_prot"),
    "OFF_PROTO_SLAB": ("proto", "slab"),
    "OFF_KMEM_CACHE_LIST": ("kmem_cache", "list"),
    "OFF_KMEM_CACHE_NODE": ("kmem_cache", "node"),
    "OFF_NODE_PARTIAL": ("kmem_cache_node", "partial"),
    "OFF_SLAB_LIST": ("slab", "slab_list"),
    "OFF_SLAB_FREELIST": ("slab", "freelist"),
}
CGROUP_V1_OFFSETS = {
    "OFF_TASK_CGROUPS": ("task_struct", "cgroups"),
    "OFF_CSS_SET_SUBSYS": ("css_set", "subsys"),
    "OFF_CSS_CGROUP": ("cgroup_subsys_state", "cgroup"),
    "OFF_CGROUP_KN": ("cgroup", "kn"),
    "OFF_KERNFS_NODE_ID": ("kernfs_node", "id"),
}
