#!/usr/bin/env python3
"""Exit 0 when a Kafka broker at HOST:PORT answers a Metadata request, 1 otherwise.

Standard library only, so the broker script can wait for readiness before anything is built.
"""
import socket
import struct
import sys


def ping(host: str, port: int, timeout: float = 1.0) -> bool:
    client_id = b"vigil-ping"
    # Metadata v0 request: api_key 3, api_version 0, correlation id, client id, empty topic
    # array (= all topics).
    body = struct.pack(">hhih", 3, 0, 42, len(client_id)) + client_id + struct.pack(">i", 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack(">i", len(body)) + body)
            header = s.recv(8)
            if len(header) < 8:
                return False
            _, correlation = struct.unpack(">ii", header)
            return correlation == 42
    except OSError:
        return False


if __name__ == "__main__":
    host, _, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092").rpartition(":")
    sys.exit(0 if ping(host, int(port)) else 1)
