/* Trivial programs that `intuition doctor` loads and attaches to learn which hook types this kernel
 * really accepts (a kernel can list a feature and still refuse it). */
#include <uapi/linux/ptrace.h>

int try_kprobe(struct pt_regs *ctx) { return 0; }
int try_tracepoint(void *ctx) { return 0; }
