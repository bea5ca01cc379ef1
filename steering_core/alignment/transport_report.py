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
    agreement: cross-fitted score agreement on benign anchors (see :mod:`.agreement`): Spearman
        correlation of source and transported scores; None when not measured (older files).
    """

    category: str
    coverage: float
    source_scale: float
    target_scale: float
    cosine_to_native: float | None = None
    agreement: float | None = None


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
            "| category | coverage | agreement | cosine to native | source scale | target scale |",
            "|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            cos = "n/a" if row.cosine_to_native is None else f"{row.cosine_to_native:.3f}"
            agree = "n/a" if row.agreement is None else f"{row.agreement:.3f}"
            lines.append(f"| {row.category} | {row.coverage:.3f} | {agree} | {cos} | {row.source_scale:.4g} | "
                         f"{row.target_scale:.4g} |")
        lines += [f"\nWARNING: {w}" for w in self.warnings()]
        return "\n".join(lines)

    def warnings(self, low_agreement: float = 0.5, low_coverage: float = 0.5) -> list[str]:
        """Plain-language warnings for categories whose map fits badly (low agreement or coverage)."""
        out = []
        poor = [f"{r.category} ({r.agreement:.2f})" for r in self.rows if r.agreement is not None and r.agreement < low_agreement]
        if poor:
            out.append(f"the {self.map_kind} map fits badly along {', '.join(poor)}: score agreement on held-out benign "
                       f"anchors is below {low_agreement}, so these transferred directions are unreliable; use more "
                       "and more varied anchors or another map kind.")
        low = [f"{r.category} ({r.coverage:.2f})" for r in self.rows if r.coverage < low_coverage]
        if low:
            out.append(f"low coverage for {', '.join(low)}: the direction lies mostly outside the anchors' subspace.")
        return out
