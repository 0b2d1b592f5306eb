# SPDX-License-Identifier: MIT
"""A recording TCP relay for the integration tests: listens on 127.0.0.1
(a free port, written to PORT_FILE), relays each connection to
127.0.0.1:TARGET both ways, and appends every byte that passes, either
way, to CAPTURE: what one on the path between two hosts would see.
Usage: tap.py TARGET CAPTURE PORT_FILE"""
import socket
import sys
import threading

target, capture, port_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()


def pipe(src, dst):
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            break
        with lock, open(capture, "ab") as f:
            f.write(data)
        try:
            dst.sendall(data)
        except OSError:
            break
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(64)
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % srv.getsockname()[1])
open(capture, "ab").close()
__import__("os").rename(port_file + ".tmp", port_file)
while True:
    client, _ = srv.accept()
    try:
        upstream = socket.create_connection(("127.0.0.1", target))
    except OSError:
        client.close()
        continue
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
