"""Our image preprocessing against the reference pipelines, computed here from the same files.

Usage: image_reference.py VLM_TOKENIZE FIXTURES WORK

Makes PNGs and JPEGs of odd sizes with Pillow (wide, tall, tiny, larger than the target so they
shrink, smaller so they enlarge, square, grey, with alpha), runs `vlm-tokenize --images` on them
under each configuration, and computes each image itself as the reference code does:
- LLaVA (haotian-liu/LLaVA llava/train/train.py): Image.open(f).convert('RGB'); with
  image_aspect_ratio 'pad' expand2square(image, tuple(int(x * 255) for x in image_mean)), pasted
  at ((side - W) // 2, (side - H) // 2); then the processor.
- VoRA (Hon-Wong/VoRA): PILExpand2Square with its default background (0, 0, 0), then AIMv2's
  processor (448).
- The processor, HF CLIPImageProcessor with the model folder's preprocessor_config.json: shortest
  edge to S and the long edge to int(S * long / short), PIL Image.resize(..., BICUBIC), back to
  uint8; centre crop with top = (H - h) // 2, left = (W - w) // 2; rescale as
  (u8.astype(float64) * rescale_factor).astype(float32); normalize as (x - float32(mean)) /
  float32(std) in float32; CHW.

PNG pixels are decoded identically by both sides, so there the uint8 crop must be identical and
the floats within 1e-6 (they come out equal). JPEG is decoded by stb_image on our side and by
libjpeg-turbo in Pillow: the two IDCTs and chroma upsamplers are different code, so decoded
pixels may differ by a few levels; for JPEGs the uint8 crops are held to JPEG_MAX_LEVELS and the
mean absolute difference to JPEG_MEAN_LEVELS, and the numbers are printed.
"""

import base64
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

JPEG_MAX_LEVELS = 8
JPEG_MEAN_LEVELS = 0.5


def make_images(folder):
    """Smooth gradients plus noise and hard edges: every filter tap matters."""
    rng = np.random.RandomState(19)
    files = []
    sizes = [
        (640, 480, "wide_shrinks"),
        (333, 500, "tall_shrinks"),
        (1000, 201, "very_wide"),
        (37, 23, "tiny_enlarges"),
        (20, 90, "tall_small"),
        (448, 448, "square_448"),
        (336, 337, "almost_square"),
        (5, 3, "five_by_three"),
    ]
    for width, height, name in sizes:
        y, x = np.mgrid[0:height, 0:width].astype(np.float64)
        base = np.stack(
            [
                127 + 120 * np.sin(x / (3 + width / 40)),
                255 * y / max(height - 1, 1),
                127 + 120 * np.cos((x + y) / 7.0),
            ],
            axis=-1,
        )
        base += rng.normal(0, 25, base.shape)
        base[(x.astype(int) // 9 + y.astype(int) // 9) % 5 == 0] = [250, 10, 10]  # hard edges
        pixels = np.clip(base, 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels, "RGB")
        files.append((os.path.join(folder, name + ".png"), "png"))
        image.save(files[-1][0])
        files.append((os.path.join(folder, name + ".jpg"), "jpeg"))
        image.save(files[-1][0], quality=95)  # Pillow's default 4:2:0 chroma subsampling
        if name == "wide_shrinks":
            files.append((os.path.join(folder, name + "_q75.jpg"), "jpeg"))
            image.save(files[-1][0], quality=75)
            files.append((os.path.join(folder, name + "_grey.png"), "png"))
            image.convert("L").save(files[-1][0])
            rgba = np.dstack([pixels, rng.randint(0, 256, (height, width)).astype(np.uint8)])
            files.append((os.path.join(folder, name + "_alpha.png"), "png"))
            Image.fromarray(rgba, "RGBA").save(files[-1][0])
    return files


def read_processor(path):
    with open(path) as f:
        config = json.load(f)
    size = config["size"]
    shortest = size["shortest_edge"] if isinstance(size, dict) else size
    crop = config["crop_size"]
    crop_h, crop_w = (crop["height"], crop["width"]) if isinstance(crop, dict) else (crop, crop)
    assert config.get("resample", 3) == 3
    return {
        "shortest_edge": shortest,
        "crop": (crop_h, crop_w),
        "rescale_factor": config.get("rescale_factor", 1 / 255),
        "mean": config["image_mean"],
        "std": config["image_std"],
    }


def clip_processor(size):
    # OpenAI CLIP's constants, what a tower without a model folder gets.
    return {
        "shortest_edge": size,
        "crop": (size, size),
        "rescale_factor": 1 / 255,
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
    }


def expand2square(image, background):
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    result = Image.new(image.mode, (side, side), background)
    result.paste(image, ((side - width) // 2, (side - height) // 2))
    return result


def reference(path, processor, aspect, pad_colour):
    image = Image.open(path).convert("RGB")
    if aspect == "pad":
        if pad_colour == "image_mean":
            background = tuple(int(x * 255) for x in processor["mean"])
        else:
            background = (0, 0, 0)
        image = expand2square(image, background)
    width, height = image.size
    s = processor["shortest_edge"]
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(s * long / short)
    new_w, new_h = (s, new_long) if width <= height else (new_long, s)
    image = image.resize((new_w, new_h), resample=Image.BICUBIC)
    pixels = np.array(image)
    crop_h, crop_w = processor["crop"]
    top = (new_h - crop_h) // 2
    left = (new_w - crop_w) // 2
    crop = pixels[top : top + crop_h, left : left + crop_w]
    x = (crop.astype(np.float64) * processor["rescale_factor"]).astype(np.float32)
    mean = np.array(processor["mean"], dtype=np.float32)
    std = np.array(processor["std"], dtype=np.float32)
    floats = ((x - mean) / std).transpose(2, 0, 1)
    return crop, floats


def ours(tool, files, processor_args, aspect, pad_colour):
    lines = "".join(json.dumps(path) + "\n" for path, _ in files)
    command = [tool, "--images", "--base64", "--image-aspect", aspect, "--pad-colour", pad_colour]
    result = subprocess.run(
        command + processor_args, input=lines, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit("vlm-tokenize failed (%d): %s" % (result.returncode, result.stderr[-2000:]))
    out = []
    for line in result.stdout.splitlines():
        record = json.loads(line)
        h, w = record["height"], record["width"]
        crop = np.frombuffer(base64.b64decode(record["crop"]), dtype=np.uint8).reshape(h, w, 3)
        floats = np.frombuffer(base64.b64decode(record["pixels"]), dtype="<f4")
        out.append((crop, floats.reshape(3, h, w)))
    return out


def main():
    tool, fixtures, work = sys.argv[1:4]
    files = make_images(work)
    clip = os.path.join(fixtures, "openai/clip-vit-large-patch14-336/preprocessor_config.json")
    aimv2 = os.path.join(fixtures, "apple/aimv2-huge-patch14-448")
    configurations = [
        # (name, our processor arguments, reference processor, aspect, pad colour)
        ("llava stage 1: CLIP-336, square", ["--image-processor", clip], read_processor(clip),
         "square", "image_mean"),
        ("llava stage 2: CLIP-336, pad image_mean", ["--image-processor", clip],
         read_processor(clip), "pad", "image_mean"),
        ("vora: AIMv2-448, pad black", ["--image-processor", aimv2],
         read_processor(os.path.join(aimv2, "preprocessor_config.json")), "pad", "black"),
        ("AIMv2-448, square", ["--image-processor", aimv2],
         read_processor(os.path.join(aimv2, "preprocessor_config.json")), "square", "image_mean"),
        ("tiny: CLIP constants at 32, pad image_mean", ["--image-size", "32"], clip_processor(32),
         "pad", "image_mean"),
    ]
    failures = []
    for name, args, processor, aspect, colour in configurations:
        results = ours(tool, files, args, aspect, colour)
        if len(results) != len(files):
            sys.exit("%s: %d outputs for %d files" % (name, len(results), len(files)))
        png_u8 = png_float = 0.0
        jpeg_max = jpeg_mean = jpeg_float = 0.0
        for (path, kind), (crop, floats) in zip(files, results):
            want_crop, want_floats = reference(path, processor, aspect, colour)
            if crop.shape != want_crop.shape:
                failures.append("%s %s: crop %s, reference %s" % (name, path, crop.shape,
                                                                  want_crop.shape))
                continue
            u8 = np.abs(crop.astype(int) - want_crop.astype(int))
            fl = float(np.max(np.abs(floats.astype(np.float64) - want_floats)))
            base = os.path.basename(path)
            if kind == "png":
                png_u8 = max(png_u8, float(u8.max()))
                png_float = max(png_float, fl)
                if u8.max() != 0:
                    failures.append("%s %s: uint8 differs by up to %d" % (name, base, u8.max()))
                if fl > 1e-6:
                    failures.append("%s %s: floats differ by %.3g" % (name, base, fl))
            else:
                if base == "square_448.jpg" and processor["shortest_edge"] == 448 and \
                        aspect == "square":
                    # 448 to 448 resizes nothing: this is the two JPEG decoders' difference alone.
                    print("JPEG decoding alone (%s unresized): uint8 max diff %d, mean %.3f" % (
                        base, u8.max(), u8.mean()))
                jpeg_max = max(jpeg_max, float(u8.max()))
                jpeg_mean = max(jpeg_mean, float(u8.mean()))
                jpeg_float = max(jpeg_float, fl)
                if u8.max() > JPEG_MAX_LEVELS or u8.mean() > JPEG_MEAN_LEVELS:
                    failures.append("%s %s: JPEG uint8 max %d, mean %.3f" % (
                        name, base, u8.max(), u8.mean()))
        print("%-45s PNG: uint8 max diff %d, float max diff %.3g | JPEG: uint8 max diff %d, "
              "worst mean %.3f levels, float max diff %.3g" % (
                  name, png_u8, png_float, jpeg_max, jpeg_mean, jpeg_float))
    print("%d files x %d configurations" % (len(files), len(configurations)))
    if failures:
        print("\n".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
