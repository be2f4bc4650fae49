/* TLS plaintext from OpenSSL: uprobes on SSL_write, SSL_write_ex, SSL_read and SSL_read_ex of each libssl
 * that processes map (the loader attaches them per library file, tracer/capture/tls_libraries.py finds the files).
 *
 * A call's entry keeps its buffer per thread. The socket I/O inside the call moves ciphertext; the sock
 * length tracepoint (bytes_tracepoint.c) counts its bytes as for any socket and names the call's socket
 * here, without parsing it. The call's return hands the plaintext, as many bytes as the call moved, to the
 * same parsers as plain traffic, as that socket's I/O. SSL_read's plaintext exists only at its return, so
 * both directions are parsed there. A call that needed no socket I/O (data OpenSSL had buffered, or a write
 * finished in an earlier call) belongs to the socket its SSL object used last. No keys are read.
 *
 * This file holds what the start's module and the TLS uprobes' share: the calls in progress and the sockets of
 * SSL objects. The uprobe programs are l7_tls_uprobes.c, compiled in a child process after the start
 * (tracer/capture/tls_process.py). */

struct tls_call {
    u64 ssl;                  /* the SSL object */
    u64 buf;                  /* the plaintext */
    u64 moved_at;             /* _ex: where the call stores the bytes it moved; 0: its return value says */
    u64 sk;                   /* the socket of the call's ciphertext I/O; 0 while there was none */
    u32 dir;
    u32 pad;
};

struct tls_session {
    u64 ssl;                  /* an SSL object's address, unique within its process only */
    u32 tgid;
    u32 pad;
};

BPF_TABLE("lru_hash", u64, struct tls_call, tls_calls, MAX_SOCKETS);        /* thread -> its call in progress */
BPF_TABLE("lru_hash", struct tls_session, u64, tls_sockets, MAX_SOCKETS);  /* SSL object -> its socket */

/* Called in the sock length tracepoint for each I/O of a TLS socket: the socket of the thread's call. */
static __always_inline void tls_ciphertext_io(const void *sk)
{
    u64 tid = bpf_get_current_pid_tgid();
    struct tls_call *call = tls_calls.lookup(&tid);
    if (call)
        call->sk = (u64)sk;
}
