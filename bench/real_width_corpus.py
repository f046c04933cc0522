"""Writes the real-width benchmark's corpus: LLaVA-format records (one image, one long answer)
over the JPEGs a `vlm-synth --image-size 336` corpus holds, so that every sample is longer than
1,024 tokens with 576 image tokens (recipes/mid/llava_real_width.yaml cuts each to exactly 1,024).

  /usr/bin/python3 bench/real_width_corpus.py SYNTH_DIR RECORDS
writes SYNTH_DIR/real_width.json; the image paths are those of SYNTH_DIR/llava_v1_5_mix665k.json.
"""
import json
import random
import sys

WORDS = ("the a small large red green blue yellow shape circle square triangle sits near left "
         "right top bottom corner of image and with beside under over bright dark background "
         "noise edge colour position appears clearly this picture shows one object there is "
         "an in at on while which its across centre middle outline filled solid pale deep").split()


def answer(rng, words):
    sentences, count = [], 0
    while count < words:
        n = rng.randint(6, 16)
        sentence = " ".join(rng.choice(WORDS) for _ in range(n))
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
        count += n
    return " ".join(sentences)


def main():
    folder, records = sys.argv[1], int(sys.argv[2])
    with open(f"{folder}/llava_v1_5_mix665k.json") as f:
        images = [r["image"] for r in json.load(f) if "image" in r]
    rng = random.Random(7)
    out = []
    for i in range(records):
        out.append({"id": f"rw{i:05d}", "image": images[i % len(images)], "conversations": [
            {"from": "human", "value": "<image>\nDescribe the image in detail."},
            {"from": "gpt", "value": answer(rng, 900)}]})
    with open(f"{folder}/real_width.json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
