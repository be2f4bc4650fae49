/* The parsers as the sock length hooks' tail-call targets (l7_io.c, l7_on_io), of the hooks' program type: raw
 * tracepoint or, where the hooks are BTF-typed, tracing programs (a tail call stays within its program type; the
 * loader loads them so, tracer/capture/loader.py, verify_l7_parsers). A module of their own
 * (tracer/capture/parser_process.py); the TLS uprobes' copy is l7_tls_uprobes.c. */

L7_PARSER(l7_parse_http, PROTO_HTTP, http_on_io, 0)
L7_PARSER(l7_parse_redis, PROTO_REDIS, redis_on_io, 0)
L7_PARSER(l7_parse_postgres, PROTO_POSTGRES, pg_on_io, 0)
L7_PARSER(l7_parse_mysql, PROTO_MYSQL, mysql_on_io, 0)
L7_PARSER(l7_parse_http2, PROTO_HTTP2, http2_on_io, 0)
