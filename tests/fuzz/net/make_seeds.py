#!/usr/bin/env python3
"""Writes seeds/ for netback_fuzz (input layout in netback_fuzz.cpp): well-formed
packets, chains, GSO extra info and rx frames, so the fuzzer starts past the
decoder."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(here, "seeds"), exist_ok=True)


def tx(gref, offset, flags, rid, size):
    return struct.pack("<IHHHH", gref, offset, flags, rid, size)


def gso(gtype, size, more=0):
    return struct.pack("<BBHBBH", 1, more, size, gtype, 0, 0) + b"\0" * 4


def frame(tcp=True, payload=64):
    eth = b"\x02" * 6 + b"\x00\x01\x02\x03\x04\x05" + b"\x08\x00"
    l4 = (struct.pack(">HHIIBBHHH", 1, 2, 0, 0, 0x50, 0, 0, 0, 0) if tcp
          else struct.pack(">HHHH", 1, 2, 8 + payload, 0))
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4) + payload, 0, 0, 64, 6 if tcp else 17, 0,
                     b"\x0a\0\0\x01", b"\x0a\0\0\x02")
    return eth + ip + l4 + bytes(i & 0xff for i in range(payload))


CSUM, VALID, MORE, EXTRA = 1, 2, 4, 8
f = frame()
seeds = {
    "single": (0x1f, 0, 4, [tx(2, 0, CSUM, 1, len(f))], [], f),
    "chain": (0x1f, 0, 4, [tx(2, 0, CSUM | MORE | EXTRA, 1, 3000), gso(1, 1400), tx(3, 0, MORE, 2, 1000),
                            tx(4, 0, 0, 3, 1000)], [], frame(True, 2958)),
    "rx": (0x1f, 2, 8, [], [(struct.pack("<BBHHHH", 1, 1, 54, 1400, 34, 16), frame(True, 5000)),
                            (b"\0" * 10, frame(False, 40))], b""),
    "lie": (0, 1, 0, [tx(2, 0, 0, 1, 60)], [], f),
}
for name, (feat, flags, bufs, reqs, frames, pages) in seeds.items():
    b = bytes([feat, flags, bufs])
    if flags & 1:
        b += struct.pack("<I", 1000)
    b += bytes([len(reqs)]) + b"".join(reqs)
    for hdr, fr in frames:
        b += hdr + struct.pack("<H", len(fr)) + fr
    b += pages
    with open(os.path.join(here, "seeds", name), "wb") as out:
        out.write(b)
