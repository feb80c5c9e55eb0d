#!/usr/bin/python3
"""webhook_server.py -- the HTTP(S) server the webhook tests POST to.

It answers each POST by a schedule, records every request it received
(time, path, headers, body, how many requests to that path it was
handling at once, what it answered) as one JSON line in --log, and writes its port to
--port-file once it listens (write to a temporary name, then rename: a
reader sees the whole number or nothing).

A schedule is a comma-separated list of actions, taken one per request
in order; the last action repeats once the list is used up:
  200, 204, 500, 503, 302 ...   answer with that status (302: Location: /moved)
  sleepS                        sleep S seconds (float), then answer 200
  sleepS-CODE                   sleep S seconds, then answer CODE
  holdS                         like sleepS, for concurrency tests (same thing)
  close                         close the connection without answering
  CODEbare                      answer CODE with no reason phrase ("HTTP/1.1 503 ", as HTTP/2 has none)
  CODEraN                       answer CODE with Retry-After: N

Where the schedule comes from, for a request to PATH:
  PATH = /s/SCHEDULE[/...]      that schedule, with its own position per
                                (schedule, the body's "key"): a test gives
                                each group or case its own URL
  otherwise                     --control FILE if given (re-read whenever it
                                changes; its position starts again then),
                                else --schedule (default "200")

Usage:
  webhook_server.py --port-file F --log L [--schedule S] [--control C]
                    [--tls-cert CERT --tls-key KEY]
"""
import argparse
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import time


class State:
    """What the handlers share, under one lock."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.positions = {}       # (schedule, key) -> next index
        self.control_text = None
        self.concurrent = {}      # path -> requests being handled now
        self.log = open(args.log, "a", buffering=1)

    def schedule_for(self, path, key):
        """The action list and its position key for a request."""
        if path.startswith("/s/"):
            sched = path[3:].split("/", 1)[0]
            return sched, (sched, key)
        if self.args.control:
            try:
                with open(self.args.control) as f:
                    text = f.read().strip()
            except OSError:
                text = self.args.schedule
            if text != self.control_text:
                self.control_text = text
                self.positions.pop(("control", None), None)
            return text, ("control", None)
        return self.args.schedule, ("default", None)

    def next_action(self, path, key):
        with self.lock:
            sched, pos_key = self.schedule_for(path, key)
            actions = [a for a in sched.split(",") if a] or ["200"]
            i = self.positions.get(pos_key, 0)
            self.positions[pos_key] = i + 1
            return actions[min(i, len(actions) - 1)], i

    def record(self, entry):
        with self.lock:
            self.log.write(json.dumps(entry, sort_keys=True) + "\n")


def parse_action(action):
    """(sleep seconds, status or None for close, reason phrase or None for the usual one, Retry-After or None)."""
    if action == "close":
        return 0.0, None, None, None
    for prefix in ("sleep", "hold"):
        if action.startswith(prefix):
            rest = action[len(prefix):]
            secs, _, code = rest.partition("-")
            return float(secs), int(code) if code else 200, None, None
    if action.endswith("bare"):
        return 0.0, int(action[:-4]), "", None
    if "ra" in action:
        code, _, secs = action.partition("ra")
        return 0.0, int(code), None, secs
    return 0.0, int(action), None, None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as curl expects
    disable_nagle_algorithm = True   # headers and body go in two writes: no 40 ms delayed-ACK stall
    server_version = "webhook-test"

    def log_message(self, fmt, *args):   # quiet: the JSON log says it all
        pass

    def do_POST(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        with st.lock:
            concurrent = st.concurrent[self.path] = st.concurrent.get(self.path, 0) + 1
        key = None
        try:
            key = json.loads(body).get("key")
        except (ValueError, AttributeError):
            pass
        action, index = st.next_action(self.path, key)
        st.record({
            "t": time.time(), "path": self.path, "method": "POST",
            "headers": {k: v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"), "concurrent": concurrent,
            "action": action, "index": index, "key": key,
            "peer_port": self.client_address[1],   # one per connection: shows keep-alive reuse
        })
        secs, code, reason, retry_after = parse_action(action)
        if secs:
            time.sleep(secs)
        with st.lock:
            st.concurrent[self.path] -= 1   # before answering: never more than the client has in flight
        if code is None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        out = b'{"ok":true}\n' if code < 300 else b'{"error":"scheduled"}\n'
        try:
            self.send_response(code, reason)
            if 300 <= code < 400:
                self.send_header("Location", "/moved")
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except OSError:   # the client gave up (its timeout)
            self.close_connection = True


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256   # listen backlog: socketserver's 5 drops SYNs of many clients at once (1 s retries)

    def handle_error(self, request, client_address):
        pass   # a client that hung up, or rejected our certificate


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--schedule", default="200")
    p.add_argument("--control")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    args = p.parse_args()

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        # the handshake runs in the request's thread, not in accept
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
