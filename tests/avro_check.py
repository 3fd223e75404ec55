#!/usr/bin/env python3
"""Independent check of the wire contract with fastavro (not the Rust apache-avro crate).

For every schema in schemas/avro (current and released history): fastavro must parse it, its
CRC-64-AVRO fingerprint must match the single-object header of the golden vector, and fastavro
must decode the golden vector's body completely; every branch vector of a union of records must
decode to its branch, also when read (resolved) by the current schema. Usage: avro_check.py <repo>/schemas
"""
import io
import json
import pathlib
import sys

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form


def main(schemas_dir: pathlib.Path) -> int:
    avro = schemas_dir / "avro"
    golden = schemas_dir / "testdata" / "golden"
    files = sorted(avro.glob("*.avsc")) + sorted(avro.glob("history/*/*.avsc"))
    if not files:
        print(f"no .avsc files under {avro}", file=sys.stderr)
        return 1
    failures = 0
    for path in files:
        try:
            parsed = fastavro.parse_schema(json.loads(path.read_text()))
        except Exception as e:  # noqa: BLE001 - report every bad schema, not just the first
            print(f"FAIL {path.relative_to(schemas_dir)}: {e}")
            failures += 1
            continue
        canonical = to_parsing_canonical_form(parsed)
        fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        stem = path.stem if path.parent == avro else path.parent.name
        if path.parent == avro:  # the current schema is the newest released version
            released = sorted(int(p.stem[1:]) for p in (avro / "history" / stem).glob("v*.avsc"))
            version = f"v{released[-1]}" if released else "v1"
        else:
            version = path.stem
        vector = golden / f"{stem}.{version}.bin"
        if vector.exists():
            data = vector.read_bytes()
            header_fp = data[2:10]
            # fastavro's hex string is the fingerprint's little-endian byte sequence, which is
            # what single-object headers carry.
            if data[:2] != b"\xc3\x01" or header_fp != fp:
                print(f"FAIL {vector.name}: header {data[:10].hex()} vs fingerprint {fp.hex()}")
                failures += 1
                continue
            body = io.BytesIO(data[10:])
            record = fastavro.schemaless_reader(body, parsed)
            if body.tell() != len(data) - 10:
                print(f"FAIL {vector.name}: {len(data) - 10 - body.tell()} bytes not consumed")
                failures += 1
                continue
            print(f"ok   {path.relative_to(schemas_dir)} (decoded {vector.name}: {len(record)} fields)")
        else:
            print(f"ok   {path.relative_to(schemas_dir)} (parsed)")
    # Branch vectors (<stem>.v<N>.<Branch>.bin): one per branch of a union of records, so an
    # encoder that wrote the wrong union index (invisible to a round trip through itself) fails.
    branches = sorted(golden.glob("*.v*.*.bin"))
    resolved = 0
    for vector in branches:
        stem, version, branch = vector.name[: -len(".bin")].split(".", 2)
        schema = fastavro.parse_schema(json.loads((avro / "history" / stem / f"{version}.avsc").read_text()))
        data = vector.read_bytes()
        body = io.BytesIO(data[10:])
        record = fastavro.schemaless_reader(body, schema, return_record_name=True)
        names = [v[0] for v in record.values() if isinstance(v, tuple)]
        if body.tell() != len(data) - 10 or not any(n.endswith("." + branch) for n in names):
            print(f"FAIL {vector.name}: decoded branches {names}, expected {branch}")
            failures += 1
            continue
        print(f"ok   {vector.name} (branch {branch})")
        # Read by today's schema (resolution, as a reader of old topics does), the branch keeps
        # its name: a union resolves by the writer's branch, never by a branch of the same shape.
        current = fastavro.parse_schema(json.loads((avro / f"{stem}.avsc").read_text()))
        body = io.BytesIO(data[10:])
        record = fastavro.schemaless_reader(body, schema, current, return_record_name=True)
        names = [v[0] for v in record.values() if isinstance(v, tuple)]
        if not any(n.endswith("." + branch) for n in names):
            print(f"FAIL {vector.name} read as {stem}.avsc: branches {names}, expected {branch}")
            failures += 1
            continue
        resolved += 1
    total = len(files) + len(branches) + resolved
    print(f"{total - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")))
