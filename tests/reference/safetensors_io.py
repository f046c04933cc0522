"""Reads and writes safetensors files with torch alone (Debian has no `safetensors` package).

The reference checks use it: a C++ test writes the model's weights, a batch and its own results;
a script here recomputes the results with plain torch and compares.
"""
import json
import struct

import torch

_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
           "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8,
           "I8": torch.int8, "BOOL": torch.bool}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    body = data[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=dtype) if end > start else \
            torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"]).clone()
    return tensors


def save(path, tensors):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous().cpu()
        raw = tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else \
            tensor.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": _NAMES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    blob = json.dumps(header).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob + b"".join(chunks))


def compare(name, ours, expected, rtol=1e-5, atol_scale=1e-6):
    """Largest relative difference, measured against the expected tensor's scale; prints it."""
    ours = ours.double()
    expected = expected.double()
    if ours.shape != expected.shape:
        print(f"FAIL {name}: shape {tuple(ours.shape)} vs {tuple(expected.shape)}")
        return False
    scale = expected.abs().max().item() if expected.numel() else 0.0
    diff = (ours - expected).abs()
    rel = (diff / (expected.abs() + atol_scale * max(scale, 1e-30))).max().item() \
        if expected.numel() else 0.0
    ok = rel <= rtol
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max relative difference {rel:.3g} (bar {rtol:g})")
    return ok
