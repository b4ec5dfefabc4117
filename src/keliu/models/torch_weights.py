"""Read a PyTorch ``.pt`` state dict into NumPy arrays without importing torch.

Both serialisation formats ``torch.save`` has written are understood: the zip format (torch >= 1.6:
``<prefix>/data.pkl`` plus one raw little-endian storage per ``<prefix>/data/<key>``) and the legacy
format (five concatenated pickles-and-blobs: magic number, protocol version, system info, the object
pickle, the storage-key list, then ``int64 numel`` + raw bytes per storage).

It must never execute pickled code: the unpickler resolves only ``collections.OrderedDict``, the
torch tensor-rebuild functions and the typed storage classes, each mapped to a local stand-in;
any other global or persistent id raises :class:`keliu.errors.ModelError`.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keliu.errors import ModelError

__all__ = ["load_torch_state_dict"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# torch storage class name -> NumPy dtype of one element ("bfloat16" is widened to float32 on load).
_STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for ``torch.<X>Storage``: only its name and element dtype are used."""

    name: str

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(_STORAGE_DTYPES[self.name])


@dataclass
class _Storage:
    """A storage referenced by the pickle; its bytes are attached once read (legacy: after the pickle)."""

    key: str
    stype: _StorageType
    numel: int
    data: np.ndarray | None = None
    view_of: _Storage | None = None
    view_offset: int = 0

    def array(self) -> np.ndarray:
        if self.view_of is not None:
            root = self.view_of.array()
            if self.view_offset + self.numel > root.size:
                raise ModelError(f"The weights file is corrupt: storage view {self.key} is out of range.")
            return root[self.view_offset : self.view_offset + self.numel]
        if self.data is None:
            raise ModelError(f"The weights file is corrupt: storage {self.key} has no data.")
        return self.data


@dataclass
class _LazyTensor:
    """Arguments of ``_rebuild_tensor_v2``; materialised once every storage has its bytes."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def materialise(self) -> np.ndarray:
        flat = self.storage.array()
        if not self.size:
            if self.offset >= flat.size:
                raise ModelError("The weights file is corrupt: a scalar tensor is out of range.")
            out = flat[self.offset : self.offset + 1].reshape(())
        else:
            if any(s < 0 for s in self.size) or any(st < 0 for st in self.stride):
                raise ModelError("The weights file is corrupt: a tensor has a negative size or stride.")
            if 0 in self.size:
                out = np.zeros(self.size, dtype=flat.dtype)
            else:
                last = self.offset + sum((n - 1) * st for n, st in zip(self.size, self.stride, strict=True))
                if self.offset < 0 or last >= flat.size:
                    raise ModelError("The weights file is corrupt: a tensor reaches outside its storage.")
                item = flat.itemsize
                out = np.lib.stride_tricks.as_strided(
                    flat[self.offset :],
                    shape=self.size,
                    strides=tuple(st * item for st in self.stride),
                    writeable=False,
                )
        arr = np.array(out, copy=True, order="C")  # own, C-contiguous
        if self.storage.stype.name == "BFloat16Storage":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def _rebuild_tensor_v2(
    storage: _Storage,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> _LazyTensor:
    if not isinstance(storage, _Storage):
        raise ModelError("The weights file is corrupt: a tensor does not refer to a storage.")
    if len(size) != len(stride):
        raise ModelError("The weights file is corrupt: a tensor's size and stride differ in length.")
    return _LazyTensor(
        storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride)
    )


def _rebuild_tensor(
    storage: _Storage, storage_offset: int, size: tuple[int, ...], stride: tuple[int, ...]
) -> _LazyTensor:
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(
    data: _LazyTensor, requires_grad: bool = False, backward_hooks: Any = None
) -> _LazyTensor:
    if not isinstance(data, _LazyTensor):
        raise ModelError("The weights file is corrupt: a parameter does not wrap a tensor.")
    return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the allow-listed globals and torch storage persistent ids."""

    def __init__(self, file: io.BufferedIOBase | io.BytesIO, storages: dict[str, _Storage] | None) -> None:
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        fn = _ALLOWED_GLOBALS.get((module, name))
        if fn is not None:
            return fn
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise ModelError(
            f"Refusing to load the weights file: it references {module}.{name}, which is not allowed."
        )

    def persistent_load(self, pid: Any) -> Any:
        if self._storages is None:
            raise ModelError("The weights file is corrupt: unexpected persistent reference.")
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise ModelError("Refusing to load the weights file: it has an unknown persistent reference.")
        stype, key, _location, numel = pid[1], pid[2], pid[3], pid[4]
        view = pid[5] if len(pid) == 6 else None
        if not isinstance(stype, _StorageType) or not isinstance(key, str) or not isinstance(numel, int):
            raise ModelError("The weights file is corrupt: malformed storage reference.")
        root = self._storages.get(key)
        if root is None:
            root = _Storage(key=key, stype=stype, numel=numel)
            self._storages[key] = root
        elif root.stype != stype:
            raise ModelError(f"The weights file is corrupt: storage {key} is used with two element types.")
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3):
            raise ModelError("The weights file is corrupt: malformed storage view.")
        view_key, view_offset, view_size = view
        return _Storage(
            key=str(view_key), stype=stype, numel=int(view_size), view_of=root, view_offset=int(view_offset)
        )


def _unpickle(data: bytes | io.BytesIO, storages: dict[str, _Storage] | None) -> Any:
    stream = data if isinstance(data, io.BytesIO) else io.BytesIO(data)
    try:
        return _RestrictedUnpickler(stream, storages).load()
    except ModelError:
        raise
    except Exception as exc:  # any pickle-level failure means a corrupt or foreign file
        raise ModelError(f"The weights file cannot be read: {type(exc).__name__}: {exc}") from exc


def _to_state_dict(obj: Any) -> dict[str, np.ndarray]:
    if not isinstance(obj, Mapping):
        raise ModelError("The weights file does not hold a state dict (a mapping of names to tensors).")
    out: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if isinstance(value, _LazyTensor):
            if not isinstance(key, str):
                raise ModelError("The weights file is corrupt: a state-dict key is not a string.")
            try:
                out[key] = value.materialise()
            except ModelError:
                raise
            except Exception as exc:  # tampered attributes, absurd shapes, out of memory
                raise ModelError(f"The weights file is corrupt: tensor {key} cannot be rebuilt.") from exc
    if not out:
        raise ModelError("The weights file holds no tensors.")
    return out


def _load_zip(blob: bytes) -> dict[str, np.ndarray]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile as exc:
        raise ModelError("The weights file is not a valid PyTorch zip archive.") from exc
    with zf:
        names = zf.namelist()
        pkls = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise ModelError("The weights file is not a PyTorch archive (no single <name>/data.pkl).")
        prefix = pkls[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = zf.read(prefix + "byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise ModelError("The weights file is corrupt: unknown byte order.")
        storages: dict[str, _Storage] = {}
        obj = _unpickle(zf.read(pkls[0]), storages)
        for key, st in storages.items():
            member = f"{prefix}data/{key}"
            if member not in names:
                raise ModelError(f"The weights file is corrupt: storage {key} is missing.")
            raw = zf.read(member)
            dt = st.stype.dtype.newbyteorder("<" if byteorder == "little" else ">")
            if len(raw) % dt.itemsize:
                raise ModelError(f"The weights file is corrupt: storage {key} has a partial element.")
            st.data = np.frombuffer(raw, dtype=dt)
    return _to_state_dict(obj)


def _load_legacy(blob: bytes) -> dict[str, np.ndarray]:
    stream = io.BytesIO(blob)
    if _unpickle(stream, None) != _LEGACY_MAGIC:
        raise ModelError("The weights file is not a PyTorch file (bad magic number).")
    if _unpickle(stream, None) != _LEGACY_PROTOCOL:
        raise ModelError("The weights file uses an unsupported legacy PyTorch protocol version.")
    sys_info = _unpickle(stream, None)
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise ModelError("The weights file was written on a big-endian machine, which is not supported.")
    storages: dict[str, _Storage] = {}
    obj = _unpickle(stream, storages)
    keys = _unpickle(stream, None)
    if not isinstance(keys, list) or set(keys) != set(storages):
        raise ModelError("The weights file is corrupt: its storage list does not match its tensors.")
    view = memoryview(blob)
    pos = stream.tell()
    for key in keys:
        st = storages[key]
        if pos + 8 > len(blob):
            raise ModelError("The weights file is truncated.")
        (numel,) = struct.unpack_from("<q", blob, pos)
        pos += 8
        nbytes = numel * st.stype.dtype.itemsize
        if numel != st.numel or pos + nbytes > len(blob):
            raise ModelError(f"The weights file is corrupt or truncated at storage {key}.")
        st.data = np.frombuffer(view[pos : pos + nbytes], dtype=st.stype.dtype)
        pos += nbytes
    return _to_state_dict(obj)


def load_torch_state_dict(source: Path | bytes) -> dict[str, np.ndarray]:
    """Return the tensors of a ``torch.save``-d state dict as ``{name: ndarray}`` (copies, native order).

    ``source`` is a path or the file's bytes. Non-tensor entries are dropped. Raises ``ModelError``
    for unreadable, corrupt, or unsafe (code-executing) files.
    """
    if isinstance(source, Path):
        try:
            blob = source.read_bytes()
        except OSError as exc:
            raise ModelError(f"Cannot read weights file {source}: {exc.strerror}.") from exc
    else:
        blob = bytes(source)
    if blob[:4] == b"PK\x03\x04":
        return _load_zip(blob)
    if blob[:2] == b"\x80\x02":
        return _load_legacy(blob)
    raise ModelError("The weights file is not a PyTorch state dict (neither zip nor legacy format).")
