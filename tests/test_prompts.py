"""Tests for steering_core.directions.prompts: the shipped prompt data and the readers for users' own files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from steering_core.errors import PromptDataError
from steering_core.directions.prompts import (
    CATEGORIES,
    PromptPair,
    all_category_pairs,
    anchor_prompts,
    category_pairs,
    read_prompt_pairs,
    read_prompts,
    split_pairs,
)

pytestmark = pytest.mark.host_independent

_WORD = re.compile(r"[a-z0-9']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


# ---------------------------------------------------------------------- shipped data
def test_anchor_prompts_shipped() -> None:
    """At least 2,000 anchor prompts, all non-empty, stripped and unique."""
    anchors = anchor_prompts()
    assert len(anchors) >= 2000
    assert all(isinstance(p, str) and p.strip() == p and p for p in anchors)
    assert len(set(anchors)) == len(anchors)


@pytest.mark.parametrize("category", CATEGORIES)
def test_category_pairs_shipped(category: str) -> None:
    """Each category has >= 150 pairs with non-empty, different safe/unsafe prompts and no duplicate pair."""
    pairs = category_pairs(category)
    assert len(pairs) >= 150
    for pair in pairs:
        assert isinstance(pair, PromptPair)
        assert pair.safe.strip() and pair.unsafe.strip()
        assert pair.safe != pair.unsafe
    keys = [(p.safe, p.unsafe) for p in pairs]
    assert len(set(keys)) == len(keys)


def test_all_category_pairs_matches_category_pairs() -> None:
    data = all_category_pairs()
    assert tuple(data) == CATEGORIES
    for category in CATEGORIES:
        assert data[category] == category_pairs(category)


@pytest.mark.parametrize("category", CATEGORIES)
def test_pairs_are_minimal_contrast(category: str) -> None:
    """At least half of each safe prompt's lowercase word tokens also occur in its unsafe prompt."""
    offenders = []
    for pair in category_pairs(category):
        safe_words = _words(pair.safe)
        unsafe_words = set(_words(pair.unsafe))
        assert safe_words, pair
        shared = sum(w in unsafe_words for w in safe_words) / len(safe_words)
        if shared < 0.5:
            offenders.append(f"{shared:.2f}: {pair.safe!r} -> {pair.unsafe!r}")
    assert offenders == [], f"{len(offenders)} {category} pair(s) are not minimal contrast:\n" + "\n".join(offenders)


# ---------------------------------------------------------------------- read_prompts
def test_read_prompts_txt_skips_blank_and_comment_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("# my prompts\n\na cat on a mat\n   \n  # indented comment\n  a dog, running  \nthird one\n",
                    encoding="utf-8")
    assert read_prompts(path) == ["a cat on a mat", "a dog, running", "third one"]


def test_read_prompts_csv_with_prompt_column_not_first(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('id,Prompt,source\n1,a cat on a mat,web\n2,"a dog, running",book\n3,  spaced  ,x\n',
                    encoding="utf-8")
    assert read_prompts(path) == ["a cat on a mat", "a dog, running", "spaced"]


def test_read_prompts_headerless_csv_uses_first_column(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('a cat on a mat,extra\n"a dog, running",more\n\nlast\n', encoding="utf-8")
    assert read_prompts(path) == ["a cat on a mat", "a dog, running", "last"]


def test_read_prompts_utf8_bom(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark does not end up in the first prompt or hide a CSV header."""
    path = tmp_path / "p.csv"
    path.write_bytes("\ufeffprompt\nun café au lait\n".encode("utf-8"))
    assert read_prompts(path) == ["un café au lait"]


@pytest.mark.parametrize("name,content", [("e.txt", ""), ("c.txt", "# only a comment\n\n"), ("e.csv", ""),
                                          ("h.csv", "prompt\n")])
def test_read_prompts_empty_raises(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PromptDataError, match="no prompts"):
        read_prompts(path)


def test_read_prompts_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(PromptDataError, match="does not exist"):
        read_prompts(tmp_path / "nope.txt")


# ---------------------------------------------------------------------- read_prompt_pairs
def test_read_pairs_csv_unsafe_first(tmp_path: Path) -> None:
    """Columns are found by header name, whatever their order."""
    path = tmp_path / "pairs.csv"
    path.write_text('unsafe,safe\n"a man stabbing someone","a man holding a knife"\nbad two,good two\n',
                    encoding="utf-8")
    assert read_prompt_pairs(path) == [PromptPair(safe="a man holding a knife", unsafe="a man stabbing someone"),
                                       PromptPair(safe="good two", unsafe="bad two")]


def test_read_pairs_csv_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("note, Safe ,id,UNSAFE\nx,s1,1,u1\ny,s2,2,u2\n", encoding="utf-8")
    assert read_prompt_pairs(path) == [PromptPair("s1", "u1"), PromptPair("s2", "u2")]


def test_read_pairs_tab_separated_txt(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("# safe<TAB>unsafe\na cat sleeping\ta dead cat\n\n a tidy room \t a room with blood on the walls \n",
                    encoding="utf-8")
    assert read_prompt_pairs(path) == [PromptPair("a cat sleeping", "a dead cat"),
                                       PromptPair("a tidy room", "a room with blood on the walls")]


def test_read_pairs_double_bar_txt(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("a woman on a beach || a nude woman on a beach\n# comment\nx, with comma||y\n", encoding="utf-8")
    assert read_prompt_pairs(path) == [PromptPair("a woman on a beach", "a nude woman on a beach"),
                                       PromptPair("x, with comma", "y")]


@pytest.mark.parametrize("name", ["empty.csv", "empty.txt"])
def test_read_pairs_empty_file_raises(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("", encoding="utf-8")
    with pytest.raises(PromptDataError):
        read_prompt_pairs(path)


def test_read_pairs_header_only_raises(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("safe,unsafe\n", encoding="utf-8")
    with pytest.raises(PromptDataError, match="no prompt pairs"):
        read_prompt_pairs(path)


MALFORMED_PAIR_FILES = [
    # CSV without a safe/unsafe header
    *[("pairs.csv", content, "header") for content in ("a cat,a dead cat\nx,y\n", "prompt,other\nx,y\n", "safe,bad\nx,y\n")],
    # a CSV row lacking its unsafe (or safe) prompt: the error names the row number
    *[("pairs.csv", f"safe,unsafe\ngood,bad\n{row}\n", "row 3") for row in ("only safe", "only safe,", "only safe,   ", ",only unsafe")],
    # a malformed text line: the error names the line number
    *[("pairs.txt", f"good || bad\n{line}\n", "line 2") for line in ("just one prompt", "a || b || c", "a\tb\tc", "  || unsafe only")],
]


@pytest.mark.parametrize("name,content,match", MALFORMED_PAIR_FILES)
def test_read_pairs_malformed_file_raises(tmp_path: Path, name: str, content: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PromptDataError, match=match):
        read_prompt_pairs(path)


def test_read_pairs_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(PromptDataError, match="does not exist"):
        read_prompt_pairs(tmp_path / "nope.csv")


@pytest.mark.parametrize("name", ["nudity", "Sexual", "", "global"])
def test_unknown_category_raises(name: str) -> None:
    with pytest.raises(PromptDataError, match="unknown category"):
        category_pairs(name)


# ---------------------------------------------------------------------- split_pairs
def _pairs(n: int) -> list[PromptPair]:
    return [PromptPair(f"safe {i}", f"unsafe {i}") for i in range(n)]


@pytest.mark.parametrize("n,holdout,n_held", [(50, 0.3, 15), (10, 0.2, 2), (7, 0.5, 4), (3, 0.34, 1)])
def test_split_pairs_sizes_disjoint_and_complete(n: int, holdout: float, n_held: int) -> None:
    """held_out has round(holdout * n) pairs; the halves are disjoint and together equal the input."""
    pairs = _pairs(n)
    train, held = split_pairs(pairs, holdout=holdout, seed=3)
    assert len(held) == n_held
    assert len(train) == n - n_held
    assert set(train).isdisjoint(held)
    assert sorted(train + held, key=lambda p: p.safe) == sorted(pairs, key=lambda p: p.safe)


def test_split_pairs_seeded() -> None:
    """The same seed gives the same split; different seeds give different ones."""
    pairs = _pairs(50)
    assert split_pairs(pairs, 0.3, seed=11) == split_pairs(pairs, 0.3, seed=11)
    helds = {frozenset(split_pairs(pairs, 0.3, seed=s)[1]) for s in range(5)}
    assert len(helds) == 5


def test_split_pairs_does_not_mutate_input() -> None:
    pairs = _pairs(20)
    copy = list(pairs)
    split_pairs(pairs, 0.25, seed=0)
    assert pairs == copy


@pytest.mark.parametrize("n,holdout", [(10, 0.0), (10, 1.0), (10, -0.2), (1, 0.3), (2, 0.1), (0, 0.5)])
def test_split_pairs_invalid_raises(n: int, holdout: float) -> None:
    with pytest.raises(PromptDataError):
        split_pairs(_pairs(n), holdout=holdout)


def test_sample_prompts_is_a_seeded_random_subset_in_file_order() -> None:
    from steering_core.directions.prompts import sample_prompts

    anchors = anchor_prompts()
    a, b, c = sample_prompts(anchors, 300, seed=1), sample_prompts(anchors, 300, seed=1), sample_prompts(anchors, 300, seed=2)
    assert a == b and a != c and len(set(a)) == 300
    positions = [anchors.index(p) for p in a]
    assert positions == sorted(positions)
    assert a != anchors[:300] and max(positions) > len(anchors) * 0.9  # not the first N: it spans the file
    assert sample_prompts(anchors, None) == anchors and sample_prompts(anchors, 10 ** 6) == anchors
    with pytest.raises(PromptDataError):
        sample_prompts(anchors, 0)


def test_sample_prompts_and_rest_partitions_the_prompts() -> None:
    from steering_core.directions.prompts import sample_prompts, sample_prompts_and_rest

    anchors = anchor_prompts()
    drawn, rest = sample_prompts_and_rest(anchors, 480, seed=0)
    assert drawn == sample_prompts(anchors, 480, seed=0)
    assert len(rest) == len(anchors) - 480 and not set(drawn) & set(rest)
    positions = [anchors.index(p) for p in rest]
    assert positions == sorted(positions) and sorted(positions + [anchors.index(p) for p in drawn]) == list(range(len(anchors)))
    assert sample_prompts_and_rest(anchors, None) == (anchors, [])
