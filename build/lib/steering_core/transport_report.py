"""Diagnostics reported with every transport of a direction through an Alignment."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class TransportRow:
    """One category's transport diagnostics.

    coverage: share of the source direction's energy inside the principal subspace spanned by
        the source anchors (0..1). A transport is only trustworthy where this is high.
    cosine_to_native: cosine between the transported and a natively estimated target direction
        (None when no native direction was given).
    """

    category: str
    coverage: float
    source_scale: float
    target_scale: float
    cosine_to_native: float | None = None


@dataclass(frozen=True)
class TransportReport:
    map_kind: str
    held_out_r2: float | None
    beta: float
    basis_energy: float
    rows: tuple[TransportRow, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = [asdict(r) for r in self.rows]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TransportReport":
        rows = tuple(TransportRow(**r) for r in data.get("rows", []))
        return cls(map_kind=data["map_kind"], held_out_r2=data.get("held_out_r2"), beta=data["beta"],
                   basis_energy=data.get("basis_energy", math.nan), rows=rows)

    def to_markdown(self) -> str:
        """A markdown table: one row per category."""
        r2 = "n/a" if self.held_out_r2 is None else f"{self.held_out_r2:.3f}"
        lines = [
            f"map: {self.map_kind}, held-out R^2: {r2}, beta: {self.beta:.4g}, "
            f"anchor basis holds {100 * self.basis_energy:.1f}% of anchor variance",
            "",
            "| category | coverage | cosine to native | source scale | target scale |",
            "|---|---|---|---|---|",
        ]
        for row in self.rows:
            cos = "n/a" if row.cosine_to_native is None else f"{row.cosine_to_native:.3f}"
            lines.append(f"| {row.category} | {row.coverage:.3f} | {cos} | {row.source_scale:.4g} | {row.target_scale:.4g} |")
        return "\n".join(lines)
