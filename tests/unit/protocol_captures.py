"""Bytes captured on this machine from real clients and servers, through a logging TCP relay on loopback:
curl 7.88 and nginx 1.22, redis-cli and redis-server 7.0, psql/pgbench and PostgreSQL 15, the mariadb client
(libmariadb 3.3) and mysql-connector-python 26.10 (prepared statements) with MariaDB 10.11. Long responses are
cut short, as the kernel's capture of the first bytes would cut them."""

# --- HTTP: curl against nginx ---
LOGIN_REQUEST = (
    b"GET /login?user=bob&password=secret HTTP/1.1\r\nHost: 127.0.0.1:18081\r\nUser-Agent: curl/7.88.1\r\n"
    b"Accept: */*\r\nAuthorization: Bearer abc\r\n\r\n"
)
LOGIN_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 09:31:17 GMT\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 8\r\nConnection: keep-alive\r\nSet-Cookie: session=s3cr3t\r\n\r\nwelcome\n"
)
NOT_FOUND_RESPONSE = (
    b"HTTP/1.1 404 Not Found\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 09:31:17 GMT\r\n"
    b"Content-Type: text/html\r\nContent-Length: 153\r\nConnection: keep-alive\r\n\r\n<html>\r\n<head><title>"
    b"404 Not Found</title></head>\r\n<body>\r\n"
)
CONTINUE_RESPONSE = (
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nServer: nginx/1.22.1\r\n"
    b"Date: Wed, 25 Nov 2026 09:31:17 GMT\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n"
    b"Connection: keep-alive\r\n\r\ngot it\n"
)


# --- Redis: redis-cli against redis-server ---
SET = b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$11\r\nsecretvalue\r\n"
LPUSH = b"*3\r\n$5\r\nlpush\r\n$1\r\nk\r\n$1\r\nx\r\n"
AUTH = b"*2\r\n$4\r\nauth\r\n$2\r\npw\r\n"
HELLO_REPLY = (
    b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:9\r\n"
)
WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
UNKNOWN_COMMAND = b"-ERR unknown command 'foo', with args beginning with: 'bar' \r\n"


# --- PostgreSQL: psql and pgbench against PostgreSQL ---
SELECT_ALICE = b"Q\x00\x00\x00)SELECT * FROM t WHERE name = 'alice'\x00"
SELECT_ALICE_RESPONSE = (
    b"T\x00\x00\x001\x00\x02name\x00\x00\x00@\x00\x00\x01\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00\x00n\x00\x00"
    b"\x00@\x00\x00\x02\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00D\x00\x00\x00\x15\x00\x02\x00\x00\x00\x05"
    b"alice\x00\x00\x00\x0242C\x00\x00\x00\rSELECT 1\x00Z\x00\x00\x00\x05I"
)
SYNTAX_ERROR = (
    b'E\x00\x00\x00]SERROR\x00VERROR\x00C42601\x00Msyntax error at or near "selec"\x00P1\x00Fscan.l\x00L1188\x00'
    b"Rscanner_yyerror\x00\x00Z\x00\x00\x00\x05I"
)
UNDEFINED_TABLE = (
    b'E\x00\x00\x00jSERROR\x00VERROR\x00C42P01\x00Mrelation "nothere" does not exist\x00P15\x00'
    b"Fparse_relation.c\x00L1392\x00RparserOpenTable\x00\x00Z\x00\x00\x00\x05I"
)
TWO_SELECTS_RESPONSE = (
    b"T\x00\x00\x00!\x00\x01?column?\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00"
    b"D\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x011C\x00\x00\x00\rSELECT 1\x00"
    b"T\x00\x00\x00!\x00\x01?column?\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00"
    b"D\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x012C\x00\x00\x00\rSELECT 1\x00Z\x00\x00\x00\x05I"
)
# pgbench -M extended: one unnamed Parse, Bind (parameters -3374 and 59390), Describe, Execute, Sync
PGBENCH_UPDATE = (
    b"P\x00\x00\x00L\x00UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;\x00\x00\x00"
    b"B\x00\x00\x00 \x00\x00\x00\x00\x00\x02\x00\x00\x00\x05-3374\x00\x00\x00\x0559390\x00\x01\x00\x00"
    b"D\x00\x00\x00\x06P\x00E\x00\x00\x00\t\x00\x00\x00\x00\x00S\x00\x00\x00\x04"
)
PGBENCH_UPDATE_RESPONSE = (
    b"1\x00\x00\x00\x042\x00\x00\x00\x04n\x00\x00\x00\x04C\x00\x00\x00\rUPDATE 1\x00Z\x00\x00\x00\x05T"
)
# pgbench -M prepared: the statement prepared once as P_2, then only bound and executed
PGBENCH_PREPARED_BIND = (
    b"B\x00\x00\x00\x1a\x00P_2\x00\x00\x00\x00\x01\x00\x00\x00\x0538608\x00\x01\x00\x00D\x00\x00\x00\x06P\x00"
    b"E\x00\x00\x00\t\x00\x00\x00\x00\x00S\x00\x00\x00\x04"
)
PGBENCH_PREPARE = (
    b"P\x00\x00\x00@P_2\x00SELECT abalance FROM pgbench_accounts WHERE aid = $1;\x00\x00\x00S\x00\x00\x00\x04"
)


# --- MySQL: the mariadb client and mysql-connector-python (prepared=True) against MariaDB 10.11 ---
MYSQL_GREETING = (
    b"d\x00\x00\x00\n5.5.5-10.11.19-MariaDB-0+deb12u1\x00\x04\x00\x00\x00'c?R\\X%M\x00\xfe\xf7\x08\x02\x00\xff\x81"
    b"\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x006bm~Tdz[6=o:\x00mysql_native_password\x00"
)
MYSQL_SELECT_ALICE = b"*\x00\x00\x00\x03SELECT * FROM shop.t WHERE name = 'alice'"
MYSQL_SELECT_ALICE_RESPONSE = (
    b"\x02\x00\x00\x01\x02\x01!\x00\x00\x02\x03def\x04shop\x01t\x01t\x02id\x02id\x00\x0c?\x00\x0b\x00\x00\x00"
    b"\x03\x00\x00\x00\x00\x00%\x00\x00\x03\x03def\x04shop\x01t\x01t\x04name\x04name\x00\x0c!\x00\xfd\xff\x02"
    b"\x00\xfc\x10\x00\x00\x00\x00\x05\x00\x00\x04\xfe\x00\x00\"\x00\x08\x00\x00\x05\x011\x05alice\x05\x00\x00"
    b"\x06\xfe\x00\x00\"\x00"
)
MYSQL_CREATE_DATABASE = b"\x15\x00\x00\x00\x03create database shop"
MYSQL_OK = b"\x07\x00\x00\x01\x00\x01\x00\x02\x00\x00\x00"
MYSQL_SYNTAX_ERROR = (
    b"\xa4\x00\x00\x01\xff(\x04#42000You have an error in your SQL syntax; check the manual that corresponds to "
    b"your MariaDB server version for the right syntax to use near 'selec 1' at line 1"
)
MYSQL_NO_SUCH_TABLE = b"1\x00\x00\x01\xffz\x04#42S02Table 'shop.no_such_table' doesn't exist"
MYSQL_PREPARE = b" \x00\x00\x00\x16SELECT name FROM t WHERE id = ?"
MYSQL_PREPARE_RESPONSE = (
    b"\x0c\x00\x00\x01\x00\x01\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00\x17\x00\x00\x02\x03def\x00\x00\x00\x01?"
    b"\x00\x0c?\x00\x00\x00\x00\x00\x06\x80\x00\x00\x00\x00\x05\x00\x00\x03\xfe\x00\x00\x00\x00$\x00\x00\x04"
    b"\x03def\x04shop\x01t\x01t\x04name\x04name\x0c-\x00\xfc\xff\x03\x00\xfc\x10\x00\x00\x00\x00\x05\x00\x00\x05"
    b"\xfe\x00\x00\x00\x00"
)
# statement 1 executed with the parameter 1 (an 8-byte integer)
MYSQL_EXECUTE = b"\x0f\x00\x00\x00\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x01\x80\x01"
MYSQL_EXECUTE_RESPONSE = (
    b"\x01\x00\x00\x01\x01$\x00\x00\x02\x03def\x04shop\x01t\x01t\x04name\x04name\x0c-\x00\xfc\xff\x03\x00\xfc"
    b"\x10\x00\x00\x00\x00\x05\x00\x00\x03\xfe\x00\x00!\x00\x08\x00\x00\x04\x00\x00\x05alice\x05\x00\x00\x05\xfe"
    b"\x00\x00!\x00"
)
# COM_STMT_CLOSE and COM_QUIT in one write: neither is answered
MYSQL_CLOSE_AND_QUIT = b"\x05\x00\x00\x00\x19\x01\x00\x00\x00\x01\x00\x00\x00\x01"


# --- HTTP/2 and gRPC: h2load 1.52 against nginx 1.22, grpcio 1.85 client and server. A sample keeps each side's
# headers as a block that decodes on its own (tracer/protocols/http2_streams.py), so these are such blocks. ---
H2_GET_REQUEST = bytes.fromhex(
    "82448d60fd43fe24fd4b5408292c2a4386418b089d5c0b8170dc65f7c01f7a8f9c541c722954d3a5358980aed897075787ba51d85b141c64"
)
H2_NOT_FOUND_RESPONSE = bytes.fromhex(
    "8d7689aa6355e580ae212e1f6196c361be9413aa693f75040138a05cb8db5700e298b46f5f87497ca589d34d1f5c830b6cff"
)
GRPC_REQUEST = bytes.fromhex(
    "8386448e6274a6b124a84afb927b0ac622a7418b089d5c0b8170dc682eb41f4082497f864d833505b11f5f8b1d75d0620d263d4c4d65647a"
    "a49acac8b57e9339ea602bbcdaeca93595916230d89702e053faa0d55be7ed424e94d62fef40899acac8b24d494f6a7f8513efbefd3f"
)
GRPC_NOT_FOUND_RESPONSE = bytes.fromhex(
    "885f8b1d75d0620d263d4c4d656440889acac8b21234da8f816f40899acac8b5254207317f88a8ea22d24ea752fa"
)
