#!/usr/bin/env python3
"""The Python peer of vlm-shard for bench/shard.sh: a 558K-format JSON array -> HDF5 shards with
h5py, written well (json.load of the whole file, per shard whole columns in one write each, no
element-by-element h5py calls). It validates what it can cheaply (conversations present, image
readable, JPEG/PNG signature) and writes the same columns as vlm-shard's format (ids, records,
image bytes with offsets, text lengths, image counts). Prints one JSON line with its timing."""
import argparse
import json
import os
import time

import h5py
import numpy as np


def ragged(group, name, blobs):
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in blobs], out=offsets[1:])
    sub = group.create_group(name)
    sub.create_dataset("data", data=np.frombuffer(b"".join(blobs), dtype=np.uint8))
    sub.create_dataset("offsets", data=offsets)


def write_shard(path, samples):
    ids, records, images, lengths, counts = [], [], [], [], []
    for record, image in samples:
        ids.append(str(record.get("id", "")).encode())
        records.append(json.dumps(record, ensure_ascii=False).encode())
        images.append(image)
        lengths.append(sum(len(t["value"].split()) for t in record["conversations"]))
        counts.append(1 if image else 0)
    with h5py.File(path + ".tmp", "w", track_order=False) as f:
        f.attrs["format_version"] = 1
        samples_group = f.create_group("samples")
        ragged(samples_group, "id", ids)
        ragged(samples_group, "record", records)
        samples_group.create_dataset("text_length", data=np.array(lengths, dtype=np.int64))
        samples_group.create_dataset("image_count", data=np.array(counts, dtype=np.int32))
        ragged(f.create_group("images"), "blobs", [i for i in images if i])
    os.replace(path + ".tmp", path)


def read_image(root, relative):
    if relative.startswith("/") or ".." in relative.split("/"):
        return None
    try:
        with open(os.path.join(root, relative), "rb") as f:
            data = f.read()
    except OSError:
        return None
    if not (data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n")):
        return None
    return data


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument("--image-root", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--samples-per-shard", type=int, default=10000)
    args = parser.parse_args()
    start = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    with open(args.input, "rb") as f:
        corpus = json.load(f)
    written = skipped = shards = 0
    for first in range(0, len(corpus), args.samples_per_shard):
        samples = []
        for record in corpus[first:first + args.samples_per_shard]:
            turns = record.get("conversations") if isinstance(record, dict) else None
            image = None
            if record.get("image"):
                image = read_image(args.image_root, record["image"])
            if not turns or (record.get("image") and image is None):
                skipped += 1
                continue
            samples.append((record, image))
        write_shard(os.path.join(args.out, "shard-%06d.h5" % shards), samples)
        shards += 1
        written += len(samples)
    seconds = time.perf_counter() - start
    print(json.dumps({"records": len(corpus), "written": written, "skipped": skipped,
                      "shards": shards, "seconds": seconds}))


if __name__ == "__main__":
    main()
