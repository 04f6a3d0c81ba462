#!/usr/bin/env python3
"""Writes seeds/ for blkback_fuzz: well-formed rings of each ABI (see the
input layout in blkback_fuzz.cpp), so the fuzzer starts past the decoder."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(here, "seeds"), exist_ok=True)
LAYOUT = {0: (112, 8, 16, 24), 1: (108, 4, 12, 20), 2: (112, 8, 16, 24)}  # entry, id, sector, seg


def request(abi, op, nseg, rid, sector, segs, extra=None):
    size, id_off, sec_off, seg_off = LAYOUT[abi]
    b = bytearray(size)
    b[0] = op
    b[1] = nseg
    struct.pack_into("<Q", b, id_off, rid)
    struct.pack_into("<Q", b, sec_off, sector)
    for i, (gref, first, last) in enumerate(segs):
        struct.pack_into("<IBB", b, seg_off + 8 * i, gref, first, last)
    if extra:
        extra(b)
    return bytes(b)


for abi in (0, 1, 2):
    size, id_off, sec_off, seg_off = LAYOUT[abi]
    reqs = [
        request(abi, 1, 2, 1, 0, [(10, 0, 7), (11, 0, 7)]),  # write
        request(abi, 0, 1, 2, 8, [(12, 1, 3)]),  # read
        request(abi, 3, 0, 3, 0, []),  # flush
        request(abi, 2, 1, 4, 16, [(33, 0, 7)]),  # barrier from a read-only grant
    ]

    def discard(b):
        struct.pack_into("<Q", b, seg_off, 8)  # nr_sectors follows sector_number

    reqs.append(request(abi, 5, 1, 5, 0, [], discard))

    def indirect(b):
        grefs = 24 if abi == 1 else 28
        struct.pack_into("<H", b, 2, 4)  # nr_segments
        struct.pack_into("<H", b, grefs - 4, 0)
        struct.pack_into("<I", b, grefs, 20)  # indirect page: ref 20 -> frame 20

    reqs.append(request(abi, 6, 0, 6, 0, [], indirect))
    header = bytes([abi, 0, 0]) + struct.pack("<I", len(reqs))
    with open(os.path.join(here, "seeds", f"ring-abi{abi}"), "wb") as f:
        f.write(header + b"".join(reqs))
