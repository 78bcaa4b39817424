"""Writes safetensors files (optionally gzip'd) from NumPy arrays, without the safetensors package,
so the twins run with nothing but Debian's python3-torch and python3-numpy."""
import gzip
import json
import struct

import numpy as np

_DTYPES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int32"): "I32",
           np.dtype("int64"): "I64"}


def save(path, tensors, metadata=None):
    """tensors: dict name -> array (float32/float64/int32/int64), written in insertion order."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype not in _DTYPES:
            raise ValueError(f"{name}: unsupported dtype {arr.dtype}")
        data = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    payload = struct.pack("<Q", len(text)) + text + b"".join(blobs)
    if path.endswith(".gz"):
        # mtime=0: regenerating an unchanged fixture gives the same bytes
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)
