"""A disk that fills up: `full_disk(monkeypatch, room)` makes every file that checkpoint.py opens
for writing raise OSError(ENOSPC) once `room` bytes are written, as a full file system does."""
from __future__ import annotations

import errno
import io

from minifast import checkpoint


class FullDiskFile(io.BufferedWriter):
    """A write-only file over `fd` that takes `room` bytes, then fails like a full disk."""

    def __init__(self, fd: int, room: int):
        super().__init__(io.FileIO(fd, "wb"))
        self.room = room

    def write(self, data) -> int:
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def full_disk(monkeypatch, room: int = 1000) -> None:
    monkeypatch.setattr(checkpoint.os, "fdopen", lambda fd, mode="r": FullDiskFile(fd, room))
