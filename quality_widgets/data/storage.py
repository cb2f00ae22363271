"""Files that live elsewhere: fsspec URLs (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
``memory://``...) for image folders, annotation and prediction files and metric outputs.

A local path (or a ``file://`` URL, turned into one) never goes through fsspec: the project's
ordinary code paths stay as they are. Everything else is read through fsspec, which is an
optional dependency (``pip install 'quality-widgets[dask]'``); the protocol packages (s3fs,
gcsfs, adlfs) are the user's choice, and credentials come from fsspec's usual configuration
(environment variables, config files): this module stores none and prints none.
"""
from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from ..errors import DatasetError
from .schema import relative_parts

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# What a store reports about a file's version, most specific first: a content tag, then a time.
VERSION_FIELDS = ("ETag", "etag", "md5Hash", "Content-MD5", "mtime", "LastModified",
                  "last_modified", "Last-Modified", "updated", "created")
INFO_BATCH = 256   # concurrent metadata requests to an asynchronous store


def is_url(location) -> bool:
    """True for a string with a protocol (``s3://bucket/x``), ``file://`` included."""
    return isinstance(location, str) and bool(_URL.match(location))


def path_or_url(value) -> Path | str:
    """The URL string itself for a remote protocol; a local :class:`~pathlib.Path` otherwise
    (a ``file://`` URL becomes the path it names)."""
    if is_url(value):
        if value.lower().startswith("file://"):
            return Path(unquote(urlparse(value).path))
        stripped = value.rstrip("/")
        return stripped if not stripped.endswith(":") else value
    return Path(value)


def location(value) -> Path | str:
    """:func:`path_or_url`, with local paths made absolute (a folder's identity)."""
    loc = path_or_url(value)
    return loc if isinstance(loc, str) else loc.absolute()


def filesystem(url: str):
    """``(fsspec filesystem, path within it)`` of ``url``; a clear error without fsspec."""
    try:
        import fsspec
    except ImportError:
        raise DatasetError(url, "reading URLs needs fsspec: pip install "
                                "'quality-widgets[dask]' (plus s3fs, gcsfs or adlfs for "
                                "those stores)") from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise DatasetError(url, f"cannot open this URL: {e}") from None


def name(loc) -> str:
    """The last part of a path or URL (``s3://b/coco/images`` -> ``images``)."""
    return PurePosixPath(_after_protocol(loc)).name if is_url(loc) else Path(loc).name


def stem(loc) -> str:
    """The last part without its extension (``http://h/instances.json`` -> ``instances``)."""
    return PurePosixPath(_after_protocol(loc)).stem if is_url(loc) else Path(loc).stem


def _after_protocol(url: str) -> str:
    return urlparse(url)._replace(scheme="", query="", fragment="").geturl().lstrip("/")


def join(root: str, file_name: str) -> str | None:
    """``root/file_name`` for a URL root if the name stays below it; None for absolute names,
    URLs and ``..`` escapes (the rule of :func:`~quality_widgets.data.schema.safe_join`)."""
    if (not isinstance(file_name, str) or not file_name or "\x00" in file_name
            or file_name.startswith(("/", "\\")) or is_url(file_name)):
        return None
    parts = relative_parts(file_name.replace("\\", "/").split("/"))
    return f"{root.rstrip('/')}/{'/'.join(parts)}" if parts else None


def read_bytes(url: str) -> bytes:
    """The whole file at ``url``. Raises FileNotFoundError / PermissionError / OSError as the
    store reports them."""
    fs, path = filesystem(url)
    return fs.cat_file(path)


def open_binary(url: str) -> io.BytesIO:
    """The file at ``url`` as an in-memory file object (images are read whole: a decoder's
    small seeks would each be a request to the store)."""
    return io.BytesIO(read_bytes(url))


def isdir(url: str) -> bool:
    fs, path = filesystem(url)
    try:
        return bool(fs.isdir(path))
    except Exception:
        return False


def list_files(root: str, extensions: tuple) -> list[str]:
    """Names (relative to ``root``, POSIX) of the files below ``root`` with one of the
    extensions, sorted; hidden files and folders left out."""
    fs, path = filesystem(root)
    try:
        found = fs.find(path)
    except FileNotFoundError:
        raise DatasetError(root, "images folder not found") from None
    base = path.rstrip("/") + "/"
    names = []
    for item in found:
        rel = item[len(base):] if item.startswith(base) else None
        if rel is None and item.startswith(root.rstrip("/") + "/"):
            rel = item[len(root.rstrip("/")) + 1:]
        if not rel or any(p.startswith(".") for p in rel.split("/")):
            continue
        if rel.lower().endswith(extensions):
            names.append(rel)
    return sorted(names)


def versions(urls: list) -> list[str | None]:
    """For each URL, ``"size|version"`` from what its store reports (size and ETag, or size
    and modification time), or None when the file cannot be found. Asynchronous stores (HTTP,
    S3, GCS, Azure) are asked many files at a time."""
    out: list = [None] * len(urls)
    by_fs: dict = {}
    for i, url in enumerate(urls):
        fs, path = filesystem(url)
        by_fs.setdefault(id(fs), (fs, []))[1].append((i, path))
    for fs, items in by_fs.values():
        infos = _infos(fs, [p for _, p in items])
        for (i, _), info in zip(items, infos, strict=True):
            out[i] = _version(info)
    return out


def _version(info) -> str | None:
    if not isinstance(info, dict) or info.get("type") == "directory":
        return None
    tag = next((str(info[f]) for f in VERSION_FIELDS if info.get(f) not in (None, "")), "")
    return f"{info.get('size')}|{tag}"


def _infos(fs, paths: list) -> list:
    if getattr(fs, "async_impl", False) and hasattr(fs, "_info"):
        from fsspec.asyn import sync

        async def one(p):
            try:
                return await fs._info(p)
            except Exception:   # a missing or unreadable file: no key, computed as missing
                return None

        async def many(ps):
            return await asyncio.gather(*(one(p) for p in ps))

        out = []
        for i in range(0, len(paths), INFO_BATCH):
            out.extend(sync(fs.loop, many, paths[i:i + INFO_BATCH]))
        return out
    out = []
    for p in paths:
        try:
            out.append(fs.info(p))
        except Exception:
            out.append(None)
    return out
