"""Reads and writes safetensors files with torch alone (Debian has no `safetensors` package).

The reference checks use it: a C++ test writes the model's weights, a batch and its own results;
a script here recomputes the results with plain torch and compares. Readers that only compare
numbers (tests/e2e/compare_runs.py) use load_numpy, which spares them torch's 2 s import.
"""
import json
import struct

_NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
                 "U8": "u1", "I8": "i1", "BOOL": "?"}


def _entries(path):
    """(name, dtype name, shape, raw bytes) of every tensor in the file, in its order."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    body = memoryview(data)[8 + header_len:]
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        yield name, info["dtype"], info["shape"], body[start:end]


def load(path):
    import torch
    dtypes, tensors = _torch_dtypes(), {}
    for name, dtype, shape, raw in _entries(path):
        dtype = dtypes[dtype]
        flat = torch.frombuffer(bytearray(raw), dtype=dtype) if len(raw) else \
            torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(shape).clone()
    return tensors


def load_numpy(path):
    """The file's tensors as numpy arrays; bf16 widened to float32 exactly."""
    import numpy as np
    tensors = {}
    for name, dtype, shape, raw in _entries(path):
        if dtype == "BF16":
            array = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=_NUMPY_DTYPES[dtype])
        tensors[name] = array.reshape(shape)
    return tensors


def _torch_dtypes():
    import torch
    return {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
            "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8,
            "I8": torch.int8, "BOOL": torch.bool}


def dtype_name(dtype):
    """The safetensors name of a torch dtype ("F32", "BF16", ...)."""
    return next(name for name, known in _torch_dtypes().items() if known == dtype)


def save(path, tensors):
    import torch
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous().cpu()
        raw = tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else \
            tensor.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": dtype_name(tensor.dtype), "shape": list(tensor.shape),
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
