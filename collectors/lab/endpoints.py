"""The two ends of lab connections, run inside workload namespaces as scripts (standard library
only, started with `ip netns exec NS python -P -u endpoints.py ...`).

`listen PORT,PORT --for SECONDS`: binds every port, prints `ready`, accepts until stdin closes
or the time is up, then prints one JSON line: the connections it accepted.
`connect --timeout SECONDS`: reads a JSON list of [address, port] from stdin, connects to all at
once (non-blocking), and prints one JSON line: for each target, the source port it used and
`connected`, `refused` or `timeout`.
"""

from __future__ import annotations

import errno
import json
import select
import socket
import sys
import time
from typing import IO, Any


def listen(ports: list[int], seconds: float, stdin: IO[str], stdout: IO[str]) -> None:
    """Accept on every port until stdin closes or `seconds` pass; report what was accepted."""
    servers = []
    for port in ports:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", port))
        server.listen(128)
        server.setblocking(False)
        servers.append(server)
    stdout.write("ready\n")
    stdout.flush()
    accepted: list[dict[str, Any]] = []
    by_fd = {server.fileno(): server for server in servers}
    watched = [*by_fd, stdin.fileno()]
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        readable, _, _ = select.select(watched, [], [], left)
        if stdin.fileno() in readable and not stdin.readline():
            break
        for fd in readable:
            if fd not in by_fd:
                continue
            try:
                conn, (peer, peer_port) = by_fd[fd].accept()
            except BlockingIOError:
                continue
            accepted.append({"src": peer, "sport": peer_port,
                             "dport": by_fd[fd].getsockname()[1]})
            conn.close()
    stdout.write(json.dumps({"accepted": accepted}) + "\n")
    stdout.flush()


def connect(targets: list[tuple[str, int]], timeout: float) -> list[dict[str, Any]]:
    """Open a TCP connection to every target at once; how each attempt ended."""
    pending: dict[socket.socket, int] = {}
    results: list[dict[str, Any]] = []
    for i, (address, port) in enumerate(targets):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex((address, port))
        results.append({"dst": address, "dport": port, "sport": sock.getsockname()[1],
                        "result": "timeout"})
        if code == 0:
            results[i]["result"] = "connected"
            sock.close()
        elif code in (errno.EINPROGRESS, errno.EWOULDBLOCK):
            pending[sock] = i
        else:
            results[i]["result"] = _outcome(code)
            sock.close()
    deadline = time.monotonic() + timeout
    while pending:
        # A last look with no wait once the time is up: an answer that came while this
        # process was not scheduled still counts.
        left = max(0.0, deadline - time.monotonic())
        _, writable, _ = select.select([], list(pending), [], left)
        for sock in writable:
            i = pending.pop(sock)
            results[i]["result"] = _outcome(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
            sock.close()
        if left == 0.0:
            break
    for sock in pending:  # still waiting for an answer to the SYN: dropped on the way
        sock.close()
    return results


def _outcome(code: int) -> str:
    if code == 0:
        return "connected"
    if code == errno.ECONNREFUSED:
        return "refused"
    return f"error {errno.errorcode.get(code, code)}"


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "listen" and argv[2] == "--for":
        listen([int(p) for p in argv[1].split(",") if p], float(argv[3]), sys.stdin, sys.stdout)
        return 0
    if len(argv) == 3 and argv[0] == "connect" and argv[1] == "--timeout":
        targets = [(str(a), int(p)) for a, p in json.loads(sys.stdin.read())]
        print(json.dumps(connect(targets, float(argv[2]))), flush=True)
        return 0
    print("usage: endpoints.py listen PORT,... --for SECONDS | connect --timeout SECONDS",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
