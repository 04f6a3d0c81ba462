#!/usr/bin/env python3
"""The host end of pvsuspend's network traffic (guests/tests/pvsuspend.c
with "net"), on a vif's TAP through an AF_PACKET socket: run it in the
network namespace the TAP lives in (as root). The guest broadcasts frames
of ethertype 0x88b5 whose payload is "xenolith-net <seq>" and answers
"ping <x>" frames of that type with "pong <x>".

  tap-echo.py ping IFACE N [TIMEOUT]
      Brings IFACE up, waits for a guest frame ("beacon SEQ MAC"), sends
      "ping N" to that MAC (again each second) and waits for "pong N"
      ("pong N"). Exit 0 when both came within TIMEOUT seconds (10), else 1.
  tap-echo.py watch IFACE SECONDS
      Brings IFACE up and prints "beacon SEQ TIME" (TIME: the host's
      wall clock, seconds) for each guest frame until SECONDS pass or IFACE
      goes away (its back-end left). Exit 0 when it saw at least one.
"""
import fcntl
import select
import socket
import struct
import sys
import time

ETHERTYPE = 0x88B5
PACKET_OUTGOING = 4  # linux/if_packet.h: a frame this host sent
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
HOST_MAC = bytes.fromhex("020000000001")  # locally administered


def open_tap(iface):
    """An AF_PACKET socket on IFACE for our ethertype, IFACE up."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
    # The test's vif script leaves the TAP down, and a down TAP takes no
    # frames either way. Up before the bind: a socket bound to a down
    # interface starts with a pending ENETDOWN.
    req = struct.pack("16sH14x", iface.encode(), 0)
    flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", iface.encode(), flags | IFF_UP))
    s.bind((iface, ETHERTYPE))
    return s


def present(iface):
    try:
        socket.if_nametoindex(iface)
        return True
    except OSError:
        return False


def frames(s, iface, deadline):
    """(source MAC, payload without padding) of each frame from the guest
    until the deadline or until IFACE is gone."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if not select.select([s], [], [], min(left, 0.5))[0]:
            continue
        try:
            data, addr = s.recvfrom(65536)
        except OSError:  # ENETDOWN: the TAP went down, or away with its back-end
            if not present(iface):
                return
            time.sleep(0.1)
            continue
        if addr[2] == PACKET_OUTGOING or len(data) < 14:
            continue
        yield data[6:12], data[14:].rstrip(b"\0")


def beacon_seq(payload):
    if not payload.startswith(b"xenolith-net "):
        return None
    try:
        return int(payload[len(b"xenolith-net "):])
    except ValueError:
        return None


def ping(iface, n, timeout):
    s = open_tap(iface)
    deadline = time.monotonic() + timeout
    guest = None
    next_ping = 0.0
    want = b"pong " + n.encode()
    for src, payload in frames(s, iface, deadline):
        seq = beacon_seq(payload)
        if seq is not None and guest is None:
            guest = src
            print(f"beacon {seq} {src.hex(':')}", flush=True)
        if payload == want:
            print(want.decode(), flush=True)
            return 0
        if guest is not None and time.monotonic() >= next_ping:
            s.send(guest + HOST_MAC + struct.pack("!H", ETHERTYPE) + b"ping " + n.encode())
            next_ping = time.monotonic() + 1.0
    print("no beacon" if guest is None else f"no {want.decode()}", flush=True)
    return 1


def watch(iface, seconds):
    s = open_tap(iface)
    seen = 0
    for _, payload in frames(s, iface, time.monotonic() + seconds):
        seq = beacon_seq(payload)
        if seq is not None:
            seen += 1
            print(f"beacon {seq} {time.time():.3f}", flush=True)
    return 0 if seen else 1


def main(argv):
    if len(argv) >= 4 and argv[1] == "ping":
        return ping(argv[2], argv[3], float(argv[4]) if len(argv) > 4 else 10.0)
    if len(argv) == 4 and argv[1] == "watch":
        return watch(argv[2], float(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
