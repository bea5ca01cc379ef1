"""The host matrix's shares of the host-independent modules (scripts/test_matrix.sh + tests/conftest.py):
together they run every such module exactly once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import independent_shard, shard_modules

pytestmark = pytest.mark.host_independent

TESTS = Path(__file__).resolve().parent
SCRIPT = TESTS.parent / "scripts" / "test_matrix.sh"


def _independent_modules() -> set[str]:
    return {p.name for p in TESTS.glob("test_*.py") if "pytest.mark.host_independent" in p.read_text(encoding="utf-8")}


def test_the_matrix_hosts_share_out_every_independent_module_exactly_once() -> None:
    hosts = re.search(r"^HOSTS=\((.*)\)$", SCRIPT.read_text(encoding="utf-8"), re.M)
    assert hosts, "no HOSTS=(...) line in scripts/test_matrix.sh"
    specs = [entry.strip('"').split(":")[3] for entry in hosts.group(1).split()]
    modules = _independent_modules()
    assert len(modules) > 20 and "test_host_matrix_shards.py" in modules
    shares = [shard_modules(modules, *independent_shard(spec)) for spec in specs]
    assert set().union(*shares) == modules
    assert sum(len(s) for s in shares) == len(modules)          # disjoint
    assert all(shares)


def test_shard_specs_are_checked() -> None:
    assert independent_shard("1/3") == (1, 3)
    assert shard_modules({"a", "b", "c", "d"}, 0, 3) == {"a", "d"}
    for bad in ("3/3", "0/x", "", "/2", "0,1/3"):
        with pytest.raises(pytest.UsageError):
            independent_shard(bad)
