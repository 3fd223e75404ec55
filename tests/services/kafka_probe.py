#!/usr/bin/env python3
"""Is a Kafka broker serving at HOST:PORT? Standard library only (run.sh runs it before any venv).

Sends one Metadata v1 request (all topics) and checks that the broker lists itself at the
address it was asked at, i.e. that its advertised listener is the one clients will use.
Prints `node <id> at <host>:<port>` and exits 0, or prints why not and exits 1.
Usage: kafka_probe.py HOST:PORT
"""
import socket
import struct
import sys


def string(s: bytes) -> bytes:
    return struct.pack(">h", len(s)) + s


def read_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        buf += chunk
    return buf


def main(address: str) -> int:
    host, port = address.rsplit(":", 1)
    correlation = 0x5A45414C
    # header: api_key 3 (Metadata), api_version 1, correlation id, client id; body: topics = null
    request = struct.pack(">hhi", 3, 1, correlation) + string(b"zeal-probe") + struct.pack(">i", -1)
    try:
        with socket.create_connection((host, int(port)), timeout=2) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            (size,) = struct.unpack(">i", read_exact(sock, 4))
            body = read_exact(sock, size)
    except OSError as e:
        print(f"no Kafka answer from {address}: {e}")
        return 1
    got, brokers = struct.unpack_from(">ii", body, 0)
    if got != correlation:
        print(f"wrong correlation id {got:#x} from {address}")
        return 1
    at = 8
    listed = []
    for _ in range(brokers):
        (node,) = struct.unpack_from(">i", body, at)
        (hlen,) = struct.unpack_from(">h", body, at + 4)
        name = body[at + 6 : at + 6 + hlen].decode()
        (bport,) = struct.unpack_from(">i", body, at + 6 + hlen)
        (rlen,) = struct.unpack_from(">h", body, at + 10 + hlen)
        at += 12 + hlen + max(rlen, 0)
        listed.append((node, f"{name}:{bport}"))
    for node, where in listed:
        if where == address:
            print(f"node {node} at {where}")
            return 0
    print(f"{address} answers but advertises {listed or 'no brokers'}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
