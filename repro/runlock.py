"""The lock that keeps two runs out of one folder: a file holding the pid of the process
training there; a lock left by a dead process is taken over."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import ReproError


class RunLock:
    """An exclusive lock file holding the pid; a lock left by a dead process is taken over."""

    def __init__(self, path: Path):
        self.path = path

    def holder(self) -> int | None:
        try:
            pid = int(self.path.read_text() or 0)
        except (OSError, ValueError):
            return None
        return pid if pid and _alive(pid) else None

    def check_free(self) -> None:
        pid = self.holder()
        if pid:
            raise ReproError(f"{self.path.parent} is in use by another run (pid {pid}); "
                             f"wait for it or choose another --out")

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                return self
            except FileExistsError:
                self.check_free()
                self.path.unlink(missing_ok=True)
            except OSError as e:
                raise ReproError(f"cannot write in {self.path.parent}: {e.strerror}") from None
        raise ReproError(f"could not lock {self.path.parent}")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
