#!/usr/bin/env python3
"""Writes a VoRA-style JSON Lines corpus of N records for bench/shard.sh: each record's frame is
one of the JPEGs under --pool (10,000 of them, reused), one record in ten is text-only. Streams,
so memory stays small whatever N is."""
import argparse
import os


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", required=True, help="folder of JPEGs (searched recursively)")
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    images = sorted(os.path.relpath(os.path.join(d, f), args.pool)
                    for d, _, files in os.walk(args.pool) for f in files if f.endswith(".jpg"))
    captions = ["a red circle in the top left", "the blue square is in the bottom right",
                "a small green triangle", "a yellow star on a dark background"]
    with open(args.out, "w", buffering=1 << 22) as out:
        for i in range(args.records):
            caption = captions[i % len(captions)]
            if i % 10 == 9:
                out.write('{"id": "v%09d", "conversations": [{"from": "human", "value": '
                          '"Say something about shapes."}, {"from": "gpt", "value": "%s"}]}\n'
                          % (i, caption))
            else:
                out.write('{"id": "v%09d", "frames": ["%s"], "conversations": [{"from": "human", '
                          '"value": "<image>\\nWhat is in the picture?"}, {"from": "gpt", '
                          '"value": "%s"}]}\n' % (i, images[i % len(images)], caption))


if __name__ == "__main__":
    main()
