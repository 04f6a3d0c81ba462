#!/usr/bin/env python3
"""Writes seed inputs for xenstore_fuzz (see xenstore_fuzz.cpp for the format)."""
import os
import struct
import sys

TYPES = {
    "CONTROL": 0, "DIRECTORY": 1, "READ": 2, "GET_PERMS": 3, "WATCH": 4, "UNWATCH": 5,
    "TRANSACTION_START": 6, "TRANSACTION_END": 7, "INTRODUCE": 8, "RELEASE": 9,
    "GET_DOMAIN_PATH": 10, "WRITE": 11, "MKDIR": 12, "RM": 13, "SET_PERMS": 14,
    "IS_DOMAIN_INTRODUCED": 17, "RESUME": 18, "SET_TARGET": 19, "RESET_WATCHES": 21,
    "DIRECTORY_PART": 22,
}


def msg(kind, *args, tx=0, req=1, raw=None):
    payload = raw if raw is not None else b"".join(a.encode() + b"\0" for a in args)
    return struct.pack("<IIII", TYPES[kind], req, tx, len(payload)) + payload


def records(stream, data):
    """Splits `data` for `stream` (0 host, 1 dom1, 2 dom2) into records."""
    out = b""
    for i in range(0, len(data), 255):
        chunk = data[i:i + 255]
        out += bytes([stream, len(chunk)]) + chunk
    return out


def event(what):
    return bytes([3, what])


SEEDS = {
    "host_basics": b"\0" + records(0, msg("WRITE", raw=b"/a/b\0value")
                                    + msg("READ", "/a/b") + msg("DIRECTORY", "/a")
                                    + msg("DIRECTORY_PART", "/a", "0")
                                    + msg("GET_PERMS", "/a") + msg("SET_PERMS", "/a", "n0", "r1")
                                    + msg("RM", "/a")),
    "guest_watch": b"\0" + records(1, msg("WATCH", "device", "tok") + msg("WRITE", raw=b"device/x\0v")
                                    + msg("UNWATCH", "device", "tok") + msg("MKDIR", "data/y")),
    "transactions": b"\0" + records(2, msg("TRANSACTION_START", "")
                                     + msg("WRITE", raw=b"t/x\0v", tx=1)
                                     + msg("READ", "t/x", tx=1))
    + records(0, msg("WRITE", raw=b"/local/domain/2/t\0outside"))
    + records(2, msg("TRANSACTION_END", "T", tx=1)),
    "domains": b"\0" + records(0, msg("WATCH", "@releaseDomain", "r") + msg("WATCH", "@introduceDomain", "i")
                               + msg("SET_TARGET", "1", "2") + msg("IS_DOMAIN_INTRODUCED", "1")
                               + msg("RESUME", "1"))
    + event(1) + event(2) + event(4) + records(0, msg("RELEASE", "2") + msg("INTRODUCE", "5", "1", "3")),
    "quota_control": b"\1" + records(0, msg("CONTROL", "quota") + msg("CONTROL", "quota", "1")
                                     + msg("CONTROL", "quota", "set", "nodes", "3")
                                     + msg("CONTROL", "quota", "max", "-r") + msg("CONTROL", "help"))
    + records(1, msg("WRITE", raw=b"a\0") + msg("WRITE", raw=b"b\0") + msg("WRITE", raw=b"c/d/e\0")),
    "oversized": b"\0" + records(1, struct.pack("<IIII", 11, 1, 0, 5000) + b"x" * 40),
}

if __name__ == "__main__":
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "seeds")
    os.makedirs(out_dir, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
