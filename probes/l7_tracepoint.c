/* The parsers as raw tracepoint programs: the sock length raw tracepoints' tail-call targets (l7_io.c, l7_on_io;
 * a tail call stays within its program type). In the start's module only; the TLS uprobes' copy is l7_tls_uprobes.c. */

L7_PARSER(l7_parse_http, PROTO_HTTP, http_on_io, 0)
L7_PARSER(l7_parse_redis, PROTO_REDIS, redis_on_io, 0)
L7_PARSER(l7_parse_postgres, PROTO_POSTGRES, pg_on_io, 0)
L7_PARSER(l7_parse_mysql, PROTO_MYSQL, mysql_on_io, 0)
L7_PARSER(l7_parse_http2, PROTO_HTTP2, http2_on_io, 0)
