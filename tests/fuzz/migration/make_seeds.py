#!/usr/bin/env python3
"""Writes seeds/ for migration_stream_fuzz (input layout in
migration_stream_fuzz.cpp): valid streams of each layer, laid out by hand
from the specifications, so the fuzzer starts past the headers. seeds/domain-image (mode 5) is
written by make_domain_image_seed.cpp instead, with the daemon's writer."""
import json
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "seeds")
os.makedirs(out, exist_ok=True)


def rec(rtype, body=b""):
    pad = (8 - len(body) % 8) % 8
    return struct.pack("<II", rtype, len(body)) + body + b"\0" * pad


def hvm_entry(code, inst, body):
    return struct.pack("<HHI", code, inst, len(body)) + body


def hvm_context():
    b = hvm_entry(1, 0, struct.pack("<IIQII", 0x54381286, 1, 0, 0x806ec, 2000000))
    b += hvm_entry(2, 0, b"\0" * 1032)                     # CPU
    b += hvm_entry(3, 0, bytes(range(8)))                  # PIC, opaque
    b += hvm_entry(5, 0, struct.pack("<QIIQ", 0xfee00900, 0, 0, 0))  # LAPIC, 24 bytes
    b += hvm_entry(6, 0, b"\0" * 1024)                     # LAPIC_REGS
    b += hvm_entry(14, 0, b"\0" * 240)                     # MTRR
    b += hvm_entry(16, 0, struct.pack("<QQQ", 0, 3, 3) + b"\0" * 576)  # CPU_XSAVE
    b += hvm_entry(19, 0, struct.pack("<Q", 7))            # TSC_ADJUST
    b += hvm_entry(20, 0, struct.pack("<II", 1, 0) + struct.pack("<IIQ", 0xc0000103, 0, 1))
    return b + hvm_entry(0, 0, b"")


def libxc(version=3, checkpoints=0):
    b = struct.pack(">QIIHHI", 0xFFFFFFFFFFFFFFFF, 0x58454E46, version, 0, 0, 0)
    b += struct.pack("<IHHII", 2, 12, 0, 4, 20)
    b += rec(0x11, struct.pack("<6I", 0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69))
    b += rec(0x12, struct.pack("<IIQ", 0xce, 0, 0x80000000))
    if version >= 3:
        b += rec(0x10)
    pages = struct.pack("<II", 2, 0) + struct.pack("<QQ", 5, (0xF << 60) | 6) + b"\xaa" * 4096
    for i in range(checkpoints + 1):
        b += rec(0x01, pages)
        b += rec(0x08, struct.pack("<IIQII", 0, 2000000, 123, 1, 0))
        b += rec(0x09, hvm_context())                      # Xen's saver: context, then params
        b += rec(0x0a, struct.pack("<II", 1, 0) + struct.pack("<QQ", 1, 0xfeffe))
        if i < checkpoints:
            b += rec(0x0e)                                   # the last segment ends with END
    return b + rec(0x00)


def libxl_header():
    return struct.pack(">QII", 0x4c6962786c466d74, 2, 0)


def xl_header(config):
    cfg = json.dumps(config).encode() + b"\0"
    opt = struct.pack("<I", len(cfg)) + cfg
    magic = b"Xen saved domain, xl format\n \0 \r"
    assert len(magic) == 32
    return magic + struct.pack("<IIII", 0x01020304, 3, 0, len(opt)) + opt


libxl_stream = libxl_header() + rec(1) + libxc() + rec(0)
seeds = {
    "image": b"\x00" + xl_header({"c_info": {"type": "pvh", "name": "g"}}) + libxl_stream,
    "libxc-v3": b"\x01" + libxc(3),
    "libxc-v2": b"\x01" + libxc(2),
    "libxl": b"\x02" + libxl_stream,
    "libxl-emulator": b"\x22" + libxl_header() + rec(1) + libxc() +
    rec(2, struct.pack("<II", 2, 0) + b"physmap/1/size\0" + b"1000\0") +
    rec(3, struct.pack("<II", 2, 0) + b"QEVM") + rec(0),
    "hvm": b"\x03" + hvm_context(),
    "restore": b"\x04" + libxc(3),
}
# A checkpointed stream: the libxc stream pauses at each CHECKPOINT, libxl
# closes the checkpoint, and the next LIBXC_CONTEXT resumes it.
cp = libxc(3, checkpoints=1)
first = cp.index(rec(0x0e)) + 8
seeds["libxl-checkpointed"] = (b"\x12" + libxl_header() + rec(1) + cp[:first] + rec(4) + rec(1) +
                               cp[first:] + rec(0))

for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
