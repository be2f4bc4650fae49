/* A trivial kprobe that `intuition doctor` attaches to learn whether this kernel offers the kprobe bytes
 * path (used where the sock length tracepoints are missing) while the agent itself uses the tracepoints. */
#include <uapi/linux/ptrace.h>

int try_kprobe(struct pt_regs *ctx) { return 0; }
