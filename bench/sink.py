#!/usr/bin/env python3
"""A PUT sink for the jfrog and nexus memory benchmarks: accepts any PUT or POST, reads the body
and throws it away, answers 201 with `{}`. It refuses Artifactory's checksum deploy (404, so the
client sends the body) and answers 404 to HEAD/GET (nothing is stored). Only the client's peak
RSS and time are measured against it; it is no Artifactory or Nexus.

    sink.py HOST PORT
"""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: one line per request would cost more than the work
        pass

    def _answer(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _drain(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            while n > 0:
                chunk = self.rfile.read(min(n, 1 << 20))
                if not chunk:
                    break
                n -= len(chunk)
            return
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                self.rfile.read(size + 2)

    def do_PUT(self):
        if self.headers.get("X-Checksum-Deploy", "").lower() == "true":
            self._drain()
            return self._answer(404, b'{"errors":[{"status":404}]}')
        self._drain()
        self._answer(201, b"{}")

    do_POST = do_PUT

    def do_HEAD(self):
        self._answer(404)

    def do_GET(self):
        self._answer(404, b"{}")


if __name__ == "__main__":
    ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Sink).serve_forever()
