"""Shared fixtures: the real all-MiniLM-L6-v2 encoder (loaded once per session)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def minilm():
    from steering_core.encoders import TransformersEncoder

    return TransformersEncoder.minilm()
