"""Checks what a run leaves to watch it by, with nothing but the standard library.

  check_watch.py tensorboard RUN_DIR   every record of every event file (both CRCs, by our own
                                       CRC-32C), its Event parsed from the protobuf wire format,
                                       every scalar and step against metrics.jsonl
  check_watch.py png FILE WIDTH HEIGHT a PNG of that size whose pixels are not one colour
"""
import glob
import json
import math
import os
import struct
import sys
import zlib


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


TABLE = crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(path):
    data = open(path, "rb").read()
    pos = 0
    while pos < len(data):
        if len(data) - pos < 12:
            fail(f"{path}: {len(data) - pos} stray bytes at the end")
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if length_crc != masked(crc32c(header)):
            fail(f"{path}: length CRC wrong at byte {pos}")
        body = data[pos + 12:pos + 12 + length]
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        if len(body) != length or body_crc != masked(crc32c(body)):
            fail(f"{path}: data CRC wrong at byte {pos}")
        yield body
        pos += 16 + length


def varint(data, pos):
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def fields(message):
    """(field number, value) pairs: ints for varints, bytes for the rest."""
    pos = 0
    while pos < len(message):
        key, pos = varint(message, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(message, pos)
        elif wire == 1:
            value, pos = message[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = message[pos:pos + 4], pos + 4
        elif wire == 2:
            length, pos = varint(message, pos)
            value, pos = message[pos:pos + length], pos + length
        else:
            fail(f"wire type {wire} in an event")
        yield number, value


def parse_event(body):
    event = {"values": {}}
    for number, value in fields(body):
        if number == 1:
            event["wall_time"] = struct.unpack("<d", value)[0]
        elif number == 2:
            event["step"] = value
        elif number == 3:
            event["file_version"] = value.decode()
        elif number == 5:
            for n, v in fields(value):
                if n != 1:
                    continue
                tag, simple = None, None
                for vn, vv in fields(v):
                    if vn == 1:
                        tag = vv.decode()
                    elif vn == 2:
                        simple = struct.unpack("<f", vv)[0]
                event["values"][tag] = simple
    return event


def float32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def check_tensorboard(run_dir):
    lines = {}
    for line in open(os.path.join(run_dir, "metrics.jsonl")):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        lines[(row["stage"], row["step"])] = row  # a step logged again: the last line
    by_run_step = {row["run_step"]: row for row in lines.values()}
    # run_step goes on across stages: each stage starts after the last step of the one before.
    offsets = {}
    stages = []
    for row in sorted(by_run_step.values(), key=lambda r: r["run_step"]):
        offset = row["run_step"] - row["step"]
        if row["stage"] not in offsets:
            offsets[row["stage"]] = offset
            stages.append((row["stage"], offset))
        elif offsets[row["stage"]] != offset:
            fail(f"{row['stage']} step {row['step']}: run_step {row['run_step']}")
    for (previous, previous_offset), (name, offset) in zip(stages, stages[1:]):
        previous_last = max(r["step"] for r in by_run_step.values() if r["stage"] == previous)
        if offset != previous_offset + previous_last:
            fail(f"stage {name} starts at run step {offset + 1}, not after {previous}")
    if sorted(by_run_step) != list(range(1, len(by_run_step) + 1)):
        fail(f"run steps are not 1..{len(by_run_step)}")

    files = sorted(glob.glob(os.path.join(run_dir, "tensorboard", "events.out.tfevents.*")))
    if not files:
        fail("no event files")
    seen = {}
    count = 0
    for path in files:
        events = [parse_event(body) for body in records(path)]
        if not events or events[0].get("file_version") != "brain.Event:2":
            fail(f"{path}: does not start with file_version brain.Event:2")
        for event in events[1:]:
            step = event["step"]
            if step in seen:
                fail(f"step {step} written twice ({seen[step]} and {path})")
            seen[step] = path
            row = by_run_step.get(step)
            if row is None:
                fail(f"step {step} is not in metrics.jsonl")
            wanted = {k: v for k, v in row.items()
                      if k not in ("step", "stage", "run_step", "skipped")}
            if set(wanted) != set(event["values"]):
                fail(f"step {step}: tags {sorted(event['values'])}, keys {sorted(wanted)}")
            for tag, value in event["values"].items():
                expected = float32(wanted[tag]) if wanted[tag] is not None else math.nan
                if not (value == expected or (math.isnan(value) and math.isnan(expected))):
                    fail(f"step {step} {tag}: {value} in TensorBoard, {expected} in metrics.jsonl")
                count += 1
    if sorted(seen) != sorted(by_run_step):
        missing = sorted(set(by_run_step) - set(seen))
        fail(f"steps in metrics.jsonl but not in TensorBoard: {missing[:10]}")
    print(f"tensorboard: {len(files)} file(s), {len(seen)} steps, {count} scalars equal "
          f"metrics.jsonl as float32; stages at run steps "
          + ", ".join(f"{name} from {offset + 1}" for name, offset in stages))


def png_pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path}: not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]:
            fail(f"{path}: chunk {kind} CRC wrong")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour_type = header[:4]
    if depth != 8 or colour_type not in (2, 6):
        fail(f"{path}: bit depth {depth}, colour type {colour_type}")
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def check_png(path, want_width, want_height):
    width, height, channels, rows = png_pixels(path)
    if (width, height) != (want_width, want_height):
        fail(f"{path}: {width} x {height}, want {want_width} x {want_height}")
    colours = set()
    for row in rows:
        for x in range(0, len(row), channels):
            colours.add(row[x:x + 3])
    if len(colours) < 6:
        fail(f"{path}: only {len(colours)} distinct colours")
    print(f"png: {width} x {height}, {len(colours)} distinct colours")


if __name__ == "__main__":
    if sys.argv[1] == "tensorboard":
        check_tensorboard(sys.argv[2])
    elif sys.argv[1] == "png":
        check_png(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        fail(f"unknown check {sys.argv[1]}")
