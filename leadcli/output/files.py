"""Files leadcli writes (exports, `--rejects`, `config init`): never over the store or the input,
written whole or not at all, and private when new.

- `refuse_protected`: a path that is the store file (or its -wal/-shm/-journal), the config file
  in use (it names the store and holds its password and the serve token) or the file being
  imported is exit 2 before anything is written.
- `AtomicFile`: the data goes to a temporary file in the target's directory, renamed over the
  target only when complete; an existing file keeps its mode, a new one is 0600 (it holds
  customer data or secrets). A target that is not a regular file (`/dev/stdout`, a FIFO, a
  device) is written in place: renaming over it would replace the device with a file.
- A failed write (a full disk) is exit 1 with one line; a path that cannot be opened is exit 2.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from leadcli.domain.errors import Failed, InvalidInput

PRIVATE_DIR = 0o700
_STORE_COMPANIONS = ("", "-wal", "-shm", "-journal")
_SQLITE_MAGIC = b"SQLite format 3\x00"


def store_files(db: str) -> list[Path]:
    """The files of a SQLite store named by `--db` (none for MongoDB or an unreadable URI)."""
    from leadcli.store import sqlite_path

    try:
        path = sqlite_path(db)
    except InvalidInput:
        return []
    if path is None:
        return []
    return [path.with_name(path.name + suffix) for suffix in _STORE_COMPANIONS]


def _same(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def refuse_protected(
    flag: str, target: str, *, store: Iterable[Path] = (), inputs: Iterable[str] = (), config: Path | None = None
) -> None:
    """Exit 2 if writing `target` would replace the store, the config file or an input file."""
    path = Path(target).expanduser()
    for protected in store:
        if _same(path, protected):
            raise InvalidInput(f"{flag}: {target} is a file of the store in use ({protected.name}); name another file")
    if config is not None and _same(path, config):
        raise InvalidInput(f"{flag}: {target} is the config file in use; name another file")
    for name in inputs:
        if name != "-" and _same(path, Path(name)):
            raise InvalidInput(f"{flag}: {target} is the file being imported; name another file")
    refuse_sqlite(flag, path)


def refuse_sqlite(flag: str, target: Path) -> None:
    """Exit 2 if `target` is a SQLite database: a leadcli store, if not the one in use."""
    try:
        if not stat.S_ISREG(os.stat(target).st_mode):
            return  # a device, FIFO or pipe (/dev/stdout): reading it would block or consume it
        with open(target, "rb") as existing:
            magic = existing.read(len(_SQLITE_MAGIC))
    except OSError:
        return  # missing, a directory, unreadable: the write says why
    if magic == _SQLITE_MAGIC:
        raise InvalidInput(f"{flag}: {target} is a leadcli store (a SQLite database); name another file")


def refuse_store(flag: str, target: Path, db: str | None) -> None:
    """Exit 2 if `target` is a file of the store `db` names (else LEADCLI_DB's, else the default
    one), or any SQLite database: for a command that writes without opening the store."""
    from leadcli.config import default_db_path

    named = db or os.environ.get("LEADCLI_DB") or str(default_db_path())
    refuse_protected(flag, str(target), store=store_files(named))  # any SQLite database too


def private_dir(path: Path) -> None:
    """Create `path` (and missing parents) as a 0700 directory if it does not exist."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)


def write_failed(target: str, exc: OSError) -> Failed:
    return Failed(f"cannot write {target}: {exc.strerror or exc}; nothing was written")


class AtomicFile:
    """`with AtomicFile(path, flag) as stream:` — text written to `stream` replaces `path` only
    when the block ends without an exception."""

    def __init__(self, target: str, flag: str) -> None:
        self.target = target
        self.flag = flag
        self.path = Path(os.path.realpath(Path(target).expanduser()))
        self.temp: Path | None = None
        self.stream: TextIO | None = None

    def __enter__(self) -> TextIO:
        try:
            # the name as given, links followed: /dev/stdout into a pipe has no real path to resolve
            existing: os.stat_result | None = os.stat(Path(self.target).expanduser())
        except FileNotFoundError:
            existing = None
        except OSError as exc:
            raise InvalidInput(f"{self.flag}: cannot write {self.target}: {exc.strerror}") from None
        try:
            if existing is not None and not stat.S_ISREG(existing.st_mode):
                if stat.S_ISDIR(existing.st_mode):
                    raise InvalidInput(f"{self.flag}: {self.target} is a directory; name a file")
                # a device, FIFO or pipe: in place, by the name given
                self.stream = open(Path(self.target).expanduser(), "w", encoding="utf-8", newline="")
                return self.stream
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".partial")  # 0600
            self.temp = Path(name)
            if existing is not None:
                _keep_owner_and_mode(fd, existing)
            self.stream = open(fd, "w", encoding="utf-8", newline="")
        except OSError as exc:
            self._discard()
            raise InvalidInput(f"{self.flag}: cannot write {self.target}: {exc.strerror}") from None
        return self.stream

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        assert self.stream is not None
        if kind is not None:
            self._discard()
            if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
                raise write_failed(self.target, exc) from None
            return
        try:
            self.stream.flush()
            if self.temp is not None:
                os.fsync(self.stream.fileno())
            self.stream.close()
            if self.temp is not None:
                os.replace(self.temp, self.path)
                self.temp = None
        except OSError as exc:
            self._discard()
            raise write_failed(self.target, exc) from None

    def _discard(self) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except OSError:
                pass  # the close flushed into a full disk: the temp file goes anyway
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)
            self.temp = None


_WRITE_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def _keep_owner_and_mode(fd: int, existing: os.stat_result) -> None:
    os.fchmod(fd, stat.S_IMODE(existing.st_mode))
    if hasattr(os, "fchown"):
        try:
            os.fchown(fd, existing.st_uid, existing.st_gid)
        except OSError:
            pass  # not ours to give away (not root): the file becomes the writer's, as any editor's save


def write_text_atomic(target: Path, text: str, flag: str) -> None:
    """`text` as the whole of `target` (its directory created 0700 if missing)."""
    private_dir(target.parent)
    with AtomicFile(str(target), flag) as stream:
        stream.write(text)
