"""Issue 14's smaller failures, each as a test that failed before its fix:
what an unauthenticated client can make the gateway hold, and how the
gateway answers it."""
import socket
import threading
import time


def vm(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])  # kB
    raise KeyError(key)


def big_unauthenticated_post(port, size, out):
    """A POST /v1/events with a size-byte body and no token; records the
    status line the gateway answered and how much of the body went out."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n"
              "Content-Type: application/x-ndjson\r\n\r\n".encode())
    chunk, sent = b"x" * (1 << 20), 0
    try:
        while sent < size:
            sent += s.send(chunk[:size - sent])
    except OSError:
        pass  # the gateway closed: it refused without reading
    try:
        reply = s.recv(4096)
    except OSError:
        reply = b""
    s.close()
    out.append((reply.split(b"\r\n", 1)[0], sent))


def test_unauthenticated_bodies_are_refused_before_they_are_read(gateway):
    g = gateway()
    pid = g.proc.pid
    time.sleep(0.3)
    peak0 = vm(pid, "VmHWM")
    out = []
    threads = [threading.Thread(target=big_unauthenticated_post, args=(g.port, 60 << 20, out))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(out) == 3
    for status, _ in out:
        assert status == b"HTTP/1.1 401 Unauthorized", out
    grown = vm(pid, "VmHWM") - peak0
    assert grown < 5 * 1024, f"peak RSS grew {grown} kB"
    # the API still answers, and the refusals are counted
    status, data = g.request("GET", "/metrics")
    assert status == 200 and b"tollgate_http_unauthorized_total 3" in data
    assert g.request("GET", "/v1/health", token=False)[0] == 200
    # a wrong token is refused the same way; a right one still posts
    assert g.request("POST", "/v1/events", b"{}\n", token="0" * 64)[0] == 401
    assert g.request("GET", "/nope")[0] == 404
