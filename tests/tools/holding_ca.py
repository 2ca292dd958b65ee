#!/usr/bin/env python3
"""A fake ACME CA for one test: it accepts an account and an order, offers a tls-alpn-01 challenge, and then
keeps the authorization pending for ever, so that the shim holds a pending challenge while the test probes
which ClientHellos get the challenge certificate. It checks nothing (no JWS verification): it is not a CA, it
is a way to stop time at "challenge presented". Usage: holding_ca.py PORT CERT KEY; ready when PORT accepts connections."""
import http.server
import json
import ssl
import sys

PORT = int(sys.argv[1])
BASE = "https://127.0.0.1:%d" % PORT
TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
nonce = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="application/json", location=None):
        data = json.dumps(body).encode() if body is not None else b""
        nonce[0] += 1
        self.send_response(status)
        self.send_header("Replay-Nonce", "nonce-%d" % nonce[0])
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self):
        self.send(200, None)

    def do_GET(self):
        if self.path == "/dir":
            self.send(200, {"newNonce": BASE + "/nonce", "newAccount": BASE + "/acct", "newOrder": BASE + "/order"})
        else:
            self.send(404, {"type": "urn:ietf:params:acme:error:malformed"}, "application/problem+json")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        if self.path == "/acct":
            self.send(201, {"status": "valid"}, location=BASE + "/acct/1")
        elif self.path == "/order":
            self.send(201, {"status": "pending", "identifiers": [{"type": "dns", "value": "a.example.test"}],
                            "authorizations": [BASE + "/authz/1"], "finalize": BASE + "/finalize/1"},
                      location=BASE + "/order/1")
        elif self.path == "/authz/1":
            self.send(200, {"status": "pending", "identifier": {"type": "dns", "value": "a.example.test"},
                            "challenges": [{"type": "tls-alpn-01", "url": BASE + "/chall/1", "token": TOKEN,
                                            "status": "pending"}]})
        elif self.path == "/chall/1":
            self.send(200, {"type": "tls-alpn-01", "url": BASE + "/chall/1", "token": TOKEN, "status": "processing"})
        else:
            self.send(404, {"type": "urn:ietf:params:acme:error:malformed"}, "application/problem+json")


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
