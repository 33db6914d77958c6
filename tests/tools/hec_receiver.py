#!/usr/bin/python3
"""hec_receiver.py: a Splunk HTTP Event Collector for tests and benchmarks.

Standard library only (Debian's /usr/bin/python3). Speaks the documented HEC
protocol closely enough to test a sender's at-least-once logic against it.

    hec_receiver.py [--port N] [--token TOKEN] [--out FILE.ndjson] [--tls CERT KEY]
                    [--ack] [--ack-delay SECONDS] [--script 503,503,429,200] [--fast]

Binds 127.0.0.1 (port 0 = the kernel picks) and prints the port, alone, as
the first line of stdout. Runs until SIGTERM / SIGINT.

Endpoints (the token is `Authorization: Splunk <token>`, default "test-token"):
  POST /services/collector/event (also /services/collector, .../event/1.0)
      Body: concatenated (or newline-separated) JSON envelopes, gzip when
      `Content-Encoding: gzip`. Each must be an object with a non-empty
      `event` and, when present, a numeric `time`.
      200 {"text":"Success","code":0[,"ackId":N]}
      401 code 2 (no token) / 3 (not "Splunk <token>"); 403 code 4 (wrong token)
      400 {"text":"Invalid data format","code":6,"invalid-event-number":I}:
          envelope I is bad (or scripted to be rejected); envelopes before I
          are accepted (counted, written), those after it are not.
      400 code 10 when acks are on and no channel is given.
  POST /services/collector/ack?channel=C  {"acks":[N,...]} -> {"acks":{"N":true|false}}
      an ackId turns true ack_delay seconds after its batch was accepted
      (never when ack_never); 400 code 14 when acks are off.
  GET  /services/collector/health -> 200 code 17, or 503 code 18 when "healthy": false
  POST /_control  JSON object; every key is optional and replaces the current value:
      "script": [503, 429, 200, ...]  statuses for the next event POSTs, one each,
                 answered before the body is looked at (503 code 9 "Server is busy",
                 500 code 8, 400 code 6 without an event number, 413, 429, ...;
                 200 means "behave normally")
      "reject_uids": ["uid", ...]     events whose event.metadata.uid is listed are invalid
      "reject_event_index": I | null  envelope I of every event POST is invalid
      "token": "..."                  the accepted token
      "healthy": true|false           what the health endpoint says
      "drop": N                       close the next N event POSTs' connections unanswered
      "ack": true|false, "ack_delay": seconds, "ack_never": true|false
      "reset_stats": true             zero the counters and forget the uids
  GET  /_stats -> {"event_posts","events","uids":[...],"gzip_posts","statuses":{"200":n},
                   "channels":[...],"ack_queries","health_checks","bytes_in",
                   "connections" (TCP connections accepted),
                   "first_event_t","last_event_t" (time.time() of the first and the
                   latest event POST that stored events; null before)}
      `events` counts accepted envelopes; `uids` lists event.metadata.uid of each
      accepted envelope in arrival order (duplicates included).

--out appends every accepted envelope, one compact JSON line each.
--fast (benchmarks): token check, gunzip, and envelopes counted by their
'{"time":' prefix; no JSON parsing, no uids, no file.
"""
import argparse
import gzip
import json
import signal
import socket
import ssl
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

EVENT_PATHS = ("/services/collector/event", "/services/collector", "/services/collector/event/1.0")
REPLY = {
    8: (500, "Internal server error"),
    9: (503, "Server is busy"),
}


class State:
    def __init__(self, args):
        self.lock = threading.RLock()
        self.token = args.token
        self.script = list(args.script)
        self.reject_uids = set()
        self.reject_event_index = None
        self.healthy = True
        self.drop = 0
        self.ack = args.ack
        self.ack_delay = args.ack_delay
        self.ack_never = False
        self.fast = args.fast
        self.out = open(args.out, "a", encoding="utf-8") if args.out else None
        self.next_ack = {}
        self.acks = {}  # (channel, id) -> time it becomes true
        self.reset()

    def reset(self):
        self.event_posts = 0
        self.events = 0
        self.uids = []
        self.gzip_posts = 0
        self.statuses = {}
        self.channels = set()
        self.ack_queries = 0
        self.health_checks = 0
        self.bytes_in = 0
        self.connections = 0
        self.first_event_t = None
        self.last_event_t = None

    def stamp(self):
        self.last_event_t = time.time()
        if self.first_event_t is None:
            self.first_event_t = self.last_event_t

    def stats(self):
        return {
            "event_posts": self.event_posts,
            "events": self.events,
            "uids": self.uids,
            "gzip_posts": self.gzip_posts,
            "statuses": self.statuses,
            "channels": sorted(self.channels),
            "ack_queries": self.ack_queries,
            "health_checks": self.health_checks,
            "bytes_in": self.bytes_in,
            "connections": self.connections,
            "first_event_t": self.first_event_t,
            "last_event_t": self.last_event_t,
        }


def envelopes(text):
    """Yields (index, envelope or None when unparsable) over concatenated JSON."""
    dec = json.JSONDecoder()
    i, n, k = 0, len(text), 0
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            return
        try:
            obj, i = dec.raw_decode(text, i)
        except ValueError:
            yield k, None
            return
        yield k, obj
        k += 1


def valid(env):
    if not isinstance(env, dict) or "event" not in env or env["event"] in ("", None, {}):
        return False
    t = env.get("time", 0)
    return isinstance(t, (int, float)) and not isinstance(t, bool)


def uid_of(env):
    ev = env.get("event")
    if isinstance(ev, dict) and isinstance(ev.get("metadata"), dict):
        return ev["metadata"].get("uid")
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    st = None  # State

    def log_message(self, fmt, *a):
        pass

    def setup(self):
        super().setup()
        # the reply is two writes (head, body): without this, Nagle holds the body
        # until the client's delayed ACK (40 ms a request)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.st.lock:
            self.st.connections += 1

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        with self.st.lock:
            key = str(status)
            self.st.statuses[key] = self.st.statuses.get(key, 0) + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def auth(self):
        """True when the token is right; else answers and returns False."""
        h = self.headers.get("Authorization")
        if not h:
            self.reply(401, {"text": "Token is required", "code": 2})
            return False
        if not h.startswith("Splunk "):
            self.reply(401, {"text": "Invalid authorization", "code": 3})
            return False
        if h[7:] != self.st.token:
            self.reply(403, {"text": "Invalid token", "code": 4})
            return False
        return True

    def channel(self):
        q = parse_qs(urlsplit(self.path).query)
        return self.headers.get("X-Splunk-Request-Channel") or (q.get("channel") or [None])[0]

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/_stats":
            with self.st.lock:
                stats = json.loads(json.dumps(self.st.stats()))
            return self.reply(200, stats)
        if path.startswith("/services/collector/health"):
            with self.st.lock:
                self.st.health_checks += 1
                ok = self.st.healthy
            if ok:
                return self.reply(200, {"text": "HEC is healthy", "code": 17})
            return self.reply(503, {"text": "HEC is unhealthy, queues are full", "code": 18})
        self.reply(404, {"text": "The requested URL was not found on this server.", "code": 404})

    def do_POST(self):
        path = urlsplit(self.path).path
        data = self.body()
        if path == "/_control":
            return self.control(json.loads(data or b"{}"))
        if path.startswith("/services/collector/health"):
            return self.do_GET()
        if path == "/services/collector/ack":
            return self.ack_query(data)
        if path not in EVENT_PATHS:
            return self.reply(404, {"text": "The requested URL was not found on this server.", "code": 404})
        self.event_post(data)

    def control(self, c):
        st = self.st
        with st.lock:
            for k in ("script", "token", "healthy", "drop", "ack", "ack_delay", "ack_never",
                      "reject_event_index"):
                if k in c:
                    setattr(st, k, list(c[k]) if k == "script" else c[k])
            if "reject_uids" in c:
                st.reject_uids = set(c["reject_uids"])
            if c.get("reset_stats"):
                st.reset()
        self.reply(200, {"ok": True})

    def ack_query(self, data):
        st = self.st
        if not self.auth():
            return
        ch = self.channel()
        with st.lock:
            st.ack_queries += 1
            if not st.ack:
                return self.reply(400, {"text": "ACK is disabled", "code": 14})
            now = time.monotonic()
            try:
                ids = json.loads(data)["acks"]
            except (ValueError, KeyError, TypeError):
                return self.reply(400, {"text": "Invalid data format", "code": 6})
            res = {}
            for i in ids:
                t = st.acks.get((ch, i))
                res[str(i)] = t is not None and not st.ack_never and now >= t
        self.reply(200, {"acks": res})

    def event_post(self, data):
        st = self.st
        with st.lock:
            st.event_posts += 1
            st.bytes_in += len(data)
            if st.drop > 0:
                st.drop -= 1
                drop = True
            else:
                drop = False
        if drop:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if not self.auth():
            return
        with st.lock:
            scripted = st.script.pop(0) if st.script else 200
        if scripted != 200:
            return self.scripted(scripted)
        ch = self.channel()
        if ch:
            with st.lock:
                st.channels.add(ch)
        elif st.ack:
            return self.reply(400, {"text": "Data channel is missing", "code": 10})
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            with st.lock:
                st.gzip_posts += 1
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error):
                return self.reply(400, {"text": "Invalid data format", "code": 6})
        if st.fast:
            with st.lock:
                st.events += data.count(b'{"time":')
                st.stamp()
            return self.accepted(ch)
        self.parse_and_store(data, ch)

    def scripted(self, status):
        text, code = {
            503: ("Server is busy", 9),
            500: ("Internal server error", 8),
            400: ("Invalid data format", 6),
            413: ("Content too large", None),
            429: ("Too Many Requests", None),
        }.get(status, ("scripted failure", None))
        obj = {"text": text}
        if code is not None:
            obj["code"] = code
        self.reply(status, obj)

    def parse_and_store(self, data, ch):
        st = self.st
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return self.reply(400, {"text": "Invalid data format", "code": 6, "invalid-event-number": 0})
        good, bad = [], None
        with st.lock:
            reject_uids, reject_index = set(st.reject_uids), st.reject_event_index
        for i, env in envelopes(text):
            if env is None or not valid(env) or i == reject_index or uid_of(env) in reject_uids:
                bad = i
                break
            good.append(env)
        if not good and bad is None:
            return self.reply(400, {"text": "No data", "code": 5})
        with st.lock:
            st.events += len(good)
            st.stamp()
            st.uids.extend(uid_of(e) for e in good)
            if st.out:
                for e in good:
                    st.out.write(json.dumps(e, separators=(",", ":")) + "\n")
                st.out.flush()
        if bad is not None:
            return self.reply(400, {"text": "Invalid data format", "code": 6, "invalid-event-number": bad})
        self.accepted(ch)

    def accepted(self, ch):
        st = self.st
        obj = {"text": "Success", "code": 0}
        with st.lock:
            if st.ack:
                n = st.next_ack.get(ch, 0)
                st.next_ack[ch] = n + 1
                st.acks[(ch, n)] = time.monotonic() + st.ack_delay
                obj["ackId"] = n
        self.reply(200, obj)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="test-token")
    ap.add_argument("--out")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--ack", action="store_true")
    ap.add_argument("--ack-delay", type=float, default=0.0)
    ap.add_argument("--script", type=lambda s: [int(x) for x in s.split(",") if x], default=[])
    ap.add_argument("--fast", action="store_true")
    args = ap.parse_args()

    Handler.st = State(args)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
