"""A small authoritative DNS server for tests, built on dnspython: A records from a fixed table, over UDP and TCP.

    python3 dns_server.py ADDRESS PORT NAME=TARGET...

TARGET is an IPv4 address (an A record) or another name (a CNAME, followed within the table). Every record has
TTL seconds. Other names get NXDOMAIN; a known name asked for another type an empty answer. Prints "listening"
once both sockets are bound, serves until killed. It imports nothing from the project, so that a container can
run it with dnspython alone on its path.
"""
from __future__ import annotations

import socketserver
import sys
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

TTL = 300


def answer(query: dns.message.Message, table: dict[str, str]) -> dns.message.Message:
    reply = dns.message.make_response(query)
    name = query.question[0].name.to_text(omit_final_dot=True).lower()
    if name not in table:
        reply.set_rcode(dns.rcode.NXDOMAIN)
        return reply
    if query.question[0].rdtype != dns.rdatatype.A:
        return reply
    for _ in range(len(table)):
        target = table[name]
        if target not in table:  # an address
            reply.answer.append(dns.rrset.from_text(name + ".", TTL, "IN", "A", target))
            return reply
        reply.answer.append(dns.rrset.from_text(name + ".", TTL, "IN", "CNAME", target + "."))
        name = target
    raise ValueError(f"CNAME loop at {name}")


def serve(address: str, port: int, table: dict[str, str]) -> None:
    class Udp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            sock.sendto(answer(dns.message.from_wire(data), table).to_wire(), self.client_address)

    class Tcp(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while True:
                prefix = self.rfile.read(2)
                if len(prefix) < 2:
                    return
                query = dns.message.from_wire(self.rfile.read(int.from_bytes(prefix, "big")))
                wire = answer(query, table).to_wire()
                self.wfile.write(len(wire).to_bytes(2, "big") + wire)

    socketserver.ThreadingUDPServer.allow_reuse_address = socketserver.ThreadingTCPServer.allow_reuse_address = True
    udp = socketserver.ThreadingUDPServer((address, port), Udp)
    tcp = socketserver.ThreadingTCPServer((address, port), Tcp)
    threading.Thread(target=udp.serve_forever, daemon=True).start()
    print("listening", flush=True)
    tcp.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), dict(pair.lower().split("=", 1) for pair in sys.argv[3:]))
