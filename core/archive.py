"""Zip and .npz files in bounded memory, and files written whole or not at all.

Reading trusts nothing a file declares: a member is inflated a chunk at a time and refused at a
limit (zipfile would inflate it in one go, whatever size it claims), only stored and deflated
members are read, and each .npy member is parsed here, numbers only, its header's shape matching
its bytes, so nothing is unpickled and no header can make numpy allocate what is not there.
Writing uses fixed dates and permissions, so equal content gives equal bytes.
"""
from __future__ import annotations

import io
import math
import os
import secrets
import zipfile
import zlib
from pathlib import Path

import numpy as np

_CHUNK = 2**20  # bytes inflated per read
_NPY_HEAD = 16 * 2**10  # holds any .npy header numpy reads (it refuses headers over 10,000 bytes)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date zip can store
# What zipfile and zlib raise for a corrupt member: bad CRC or header, truncated or invalid deflate data.
_UNPACK_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError)


class ArchiveError(ValueError):
    """A zip or .npz that cannot be read safely; the message says what is wrong with it."""


class TooLarge(ArchiveError):
    """What a member would unpack to is past the limit; `what` names the member."""

    def __init__(self, what: str):
        super().__init__(f"{what} would unpack past the limit")
        self.what = what


def write_member(zf: zipfile.ZipFile, name: str, data: bytes | str, compress_type: int) -> None:
    # A fixed date and Unix permissions instead of the clock and the writer's system, so that
    # identical runs give byte-identical bundles.
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type, info.create_system, info.external_attr = compress_type, 3, 0o644 << 16
    zf.writestr(info, data)



def text_problem(value) -> str | None:
    """Why a value read from JSON cannot be used as text (None if it can), worded to follow its name."""
    if not isinstance(value, str):
        return f"must be text, not {type(value).__name__}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # JSON's \ud800 escapes give lone surrogates, which no page can show
        return "is not valid Unicode text"
    return None


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as an .npz that np.load reads, without np.savez's timestamps. Each keeps its memory
    order (C or Fortran): sums over a transposed array round differently, and a loaded comparison must
    give the same agreement numbers to the last bit."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for key, a in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, a, allow_pickle=False)
            write_member(zf, f"{key}.npy", npy.getvalue(), zipfile.ZIP_DEFLATED)
    return out.getvalue()



def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder, renamed onto `path` only
    once complete, so an interrupted write leaves the old file (or none), never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as handle:  # created like any new file, honouring the umask
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # on disk before the rename, so a crash cannot leave an empty file
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt too: the temporary file goes either way
        tmp.unlink(missing_ok=True)
        raise
    return path



def open_zip(raw: bytes | bytearray, what: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(raw))
    except _UNPACK_ERRORS:
        raise ArchiveError(f"{what} is not a zip archive") from None



def inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, what: str) -> bytearray:
    """A member's bytes, refused past `limit`. zipfile.read would inflate a whole member in one go,
    whatever size it declares; reading a chunk at a time stops a zip bomb at the limit."""
    if info.flag_bits & 0x1:
        raise ArchiveError(f"{what} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        # bzip2 and lzma inflate a whole read at once, without bound; SeedScope writes neither.
        raise ArchiveError(f"{what} uses compression method {info.compress_type}; only stored and deflated members are read")
    if info.file_size > limit:
        raise TooLarge(what)
    data = bytearray()
    try:
        with zf.open(info) as member:
            while (chunk := member.read(_CHUNK)) and len(data) + len(chunk) <= limit:
                data += chunk
    except _UNPACK_ERRORS as exc:
        raise ArchiveError(f"{what} cannot be unpacked ({exc})") from None
    if chunk:
        raise TooLarge(what)
    return data



def member(zf: zipfile.ZipFile, name: str, limit: int) -> bytearray:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ArchiveError(f"it has no {name}") from None
    return inflate(zf, info, limit, name)



def _npy(data: bytearray, what: str) -> np.ndarray:
    """The array in .npy bytes, sharing them; numbers only, and the header must describe exactly the bytes."""
    head = io.BytesIO(data[:_NPY_HEAD])
    try:
        version = np.lib.format.read_magic(head)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f".npy version {version} is not one numpy writes for numbers")
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read(head)
    except Exception as exc:  # numpy's header parser: ValueError, SyntaxError, tokenize's TokenError, ...
        raise ArchiveError(f"{what} is not a numpy array ({exc})") from None
    if dtype.kind not in "bif":  # objects would need unpickling; SeedScope's arrays are all numbers
        raise ArchiveError(f"{what} holds {dtype} values, which SeedScope will not read")
    count, size = math.prod(shape), len(data) - head.tell()
    if min(shape, default=0) < 0 or count * dtype.itemsize != size:
        raise ArchiveError(f"{what} declares shape {shape} of {dtype}, which does not fit its {size:,} bytes")
    return np.frombuffer(data, dtype, count, head.tell()).reshape(shape, order="F" if fortran_order else "C")



def read_npz(raw: bytearray, limit: int) -> dict[str, np.ndarray]:
    """arrays.npz, unpacking at most `limit` bytes in all."""
    zf = open_zip(raw, "arrays.npz")
    arrays = {}
    for info in zf.infolist():
        key = info.filename.removesuffix(".npy")
        what = f"array {key!r} in arrays.npz"
        if key == info.filename:
            raise ArchiveError(f"the .npz holds {key!r}, which is not a numpy array")
        data = inflate(zf, info, limit, what)
        limit -= len(data)
        arrays[key] = _npy(data, what)
    return arrays


