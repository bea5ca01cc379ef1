"""The bookkeeping of the bad-input corpus: the tally, message judging, folder snapshots, memory.

After every case of ``tests/test_bad_inputs.py`` these decide whether it crashed something, gave an
unclear message, wrote outside SafeSteer's folders, changed an existing file or leaked state.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

#: a message is SafeSteer's own when its exception type comes from here
OWN_MODULE = "steering_core."
#: ... and it says what to do: one of these words (an imperative of the fix) must appear in it
FIX_WORDS = ("choose", "set ", "use ", "re-create", "give", "pick", "put ", "check", "export", "train", "harvest", "copy",
             "update", "delete", "move", "shorten", "save", "select", "re-export", "re-download", "raise", "fold",
             "must be", "write", "link", "connect", "rename", "refresh", "pass ", "make ", "add ", "remove", "re-save",
             "create")


@dataclass
class Tally:
    """Counters over the corpus; ``problems`` lists each non-zero count's cases."""

    cases: int = 0
    crashes: int = 0
    unclear: int = 0
    escaped: int = 0
    overwritten: int = 0
    leaks: int = 0
    problems: list[str] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)
    host_rejected: int = 0  # graph cases ComfyUI's own validator refused (naming the input) before SafeSteer ran

    def case(self, kind: str) -> None:
        self.cases += 1
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1

    def fail(self, counter: str, case: str, detail: str) -> None:
        setattr(self, counter, getattr(self, counter) + 1)
        self.problems.append(f"[{counter}] {case}: {detail[:400]!r}")

    def line(self) -> str:
        return (f"cases {self.cases}, crashes {self.crashes}, unclear {self.unclear}, escaped {self.escaped}, "
                f"overwritten {self.overwritten}, leaks {self.leaks}")


def judge_message(tally: Tally, case: str, exc_type: str, message: str, names: tuple[str, ...]) -> None:
    """Count ``unclear`` unless the message is SafeSteer's, encodable, names the input and says the fix."""
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        tally.fail("unclear", case, f"message cannot be encoded (would break a logger): {message!r}")
        return
    if not exc_type.startswith(OWN_MODULE):
        tally.fail("unclear", case, f"not SafeSteer's error ({exc_type}): {message}")
    elif names and not any(n in message for n in names):
        tally.fail("unclear", case, f"does not name {names}: {message}")
    elif not any(w in message.lower() for w in FIX_WORDS):
        tally.fail("unclear", case, f"says no fix: {message}")


_DIGESTS: dict[tuple[bytes, int, int, int, int], str] = {}


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, int, str]]:
    """``{relative path: (size, mtime_ns, sha256)}`` of every file under ``root`` (symlinks not followed),
    except under the relative folders ``skip``."""
    out: dict[str, tuple[int, int, str]] = {}
    root_b = os.fsencode(root)
    for folder, dirs, files in os.walk(root_b):
        rel_folder = os.path.relpath(folder, root_b)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for name in files:
            path = os.path.join(folder, name)
            rel = os.fsdecode(os.path.normpath(os.path.join(rel_folder, name)))
            if any(rel == s or rel.startswith(s + "/") for s in skip) or os.path.islink(path):
                continue
            st = os.stat(path)
            key = (path, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            digest = _DIGESTS.get(key)
            if digest is None:  # hash a file once per version of its inode and times
                with open(path, "rb") as fh:
                    digest = _DIGESTS[key] = hashlib.sha256(fh.read()).hexdigest()
            out[rel] = (st.st_size, st.st_mtime_ns, digest)
    return out


def compare(tally: Tally, case: str, before: dict[str, tuple[int, int, str]], after: dict[str, tuple[int, int, str]],
            allowed_new: tuple[str, ...]) -> None:
    """``overwritten``: an existing file changed or vanished; ``escaped``: a new file outside ``allowed_new``."""
    for rel, old in before.items():
        if rel not in after:
            tally.fail("overwritten", case, f"existing file {rel} was deleted")
        elif after[rel] != old:
            tally.fail("overwritten", case, f"existing file {rel} was changed")
    for rel in after.keys() - before.keys():
        if not any(rel.startswith(prefix) for prefix in allowed_new):
            tally.fail("escaped", case, f"new file {rel} outside SafeSteer's folders")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux ``/proc``)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
