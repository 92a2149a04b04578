"""Writes the fuzz corpus seeds (fuzz/corpus/<target>/) from the repository's data.

Run by `scripts/fuzz.sh --seed`, which first leaves in the directory given as argument
`states.ndjson` (the simulator's --emit-state output) and compiled `*.bundle` files.
Inputs of several parts use the layout of `waymark_fuzz::parts`: n - 1 little-endian u16
lengths, then the parts. Seed files are named after their content, as libFuzzer names
corpus entries, so seeding twice adds nothing.
"""

import glob
import hashlib
import json
import os
import random
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def parts(*chunks):
    head = b"".join(struct.pack("<H", len(c)) for c in chunks[:-1])
    return head + b"".join(chunks)


def write(target, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main(tmp):
    states = [read(p) for p in sorted(glob.glob(os.path.join(ROOT, "tests/fixtures/state-*.bin")))]
    with open(os.path.join(tmp, "states.ndjson")) as f:
        for line in f:
            record = json.loads(line)
            if "state" in record:
                states.append(bytes.fromhex(record["state"]))
    valid = [s for s in states if s[:1] == b"\x01"]
    rng = random.Random(15)

    for s in states:
        write("state_decode", s)
    for s in valid:
        write("sync_body", parts(b"", s))
        write("ingest", b"\x01" + struct.pack("<H", len(s)) + s + rng.randbytes(96))
    for a, b in zip(valid, valid[1:] + valid[:1]):
        write("sync_body", parts(a, b))
        write("state_merge", b"\x00" + parts(a, b, valid[0]))
    for _ in range(8):
        write("state_merge", b"\x01" + rng.randbytes(rng.randrange(64, 512)))
        write("ingest", b"\x00" + rng.randbytes(rng.randrange(64, 512)))

    for bundle in sorted(glob.glob(os.path.join(tmp, "*.bundle"))):
        write("bundle_decode", read(bundle))
    for bundle in sorted(glob.glob(os.path.join(ROOT, "tests/fixtures/bundle-*.bin"))):
        write("bundle_decode", read(bundle))

    sources = ["templates/*.json", "examples/journeys/*.json", "tests/cases/valid/*.json", "tests/cases/invalid/*.json"]
    for pattern in sources:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            write("journey_compile", read(path))

    for path in sorted(glob.glob(os.path.join(ROOT, "tests/cases/conditions/*.json"))):
        with open(path) as f:
            cases = json.load(f).get("cases", [])
        for case in cases:
            if len(case) >= 3:
                condition, scope = (json.dumps(c, separators=(",", ":")).encode() for c in case[1:3])
                write("condition", parts(condition, scope))


if __name__ == "__main__":
    main(sys.argv[1])
