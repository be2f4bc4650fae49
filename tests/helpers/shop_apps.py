"""Small HTTP services that the end-to-end tests run inside containers (python3 bind-mounted from the host)."""

# what every test server answers once its own work for a request is done: 200, or 500 on /fail
_REPLY = r"""
        body = b"ok\n"
        self.send_response(500 if self.path == "/fail" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
HTTPServer(("0.0.0.0", 80), Handler).serve_forever()
"""

# api: for every request one INCR on the cache over a new connection, then 200 (or 500 on /fail)
API = r"""
import socket, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
CACHE = (sys.argv[1], 6379)
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with socket.create_connection(CACHE, timeout=10) as cache:
            cache.sendall(b"*2\r\n$4\r\nINCR\r\n$4\r\nhits\r\n")
            cache.recv(64)""" + _REPLY

# slow_api: 200 (or 500 on /fail), each after sleeping the seconds written in /tmp/slow while that file exists
SLOW_API = r"""
import os, time
from http.server import BaseHTTPRequestHandler, HTTPServer
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if os.path.exists("/tmp/slow"):
            time.sleep(float(open("/tmp/slow").read()))""" + _REPLY

# requests: `ok` requests to /, then `failing` ones to /fail, one connection each
REQUESTS = r"""
import sys, time, urllib.error, urllib.request
api, ok, failing = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for path in ["/"] * ok + ["/fail"] * failing:
    try:
        urllib.request.urlopen(f"http://{api}{path}", timeout=10).read()
    except urllib.error.HTTPError as error:
        error.read()
"""

# web: the known requests, then stays up so that its name stays known
WEB = REQUESTS + r"""
print("done", flush=True)
time.sleep(3600)
"""

# chain's last service: 200, or 500 while the file /tmp/fail exists (the test creates it to inject errors)
FAILING_BACKEND = r"""
import os
from http.server import BaseHTTPRequestHandler, HTTPServer
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if os.path.exists("/tmp/fail"):
            self.path = '/fail'""" + _REPLY

# chain's middle: passes each request on to the address in argv[1] over a new connection; 500 when that fails
PROXY = r"""
import sys, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            urllib.request.urlopen(f"http://{sys.argv[1]}/", timeout=1).read()
        except OSError:  # an HTTP error status, a refused or timed out connect
            self.path = '/fail'""" + _REPLY

# chain's first service: a request to argv[1] every 50 ms for at most argv[2] seconds, then idle
LOAD = r"""
import sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(f"http://{sys.argv[1]}/", timeout=5).read()
    except OSError:
        pass
    time.sleep(0.05)
time.sleep(3600)
"""
