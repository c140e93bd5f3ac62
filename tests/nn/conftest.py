"""Fixtures for the network tests: fixed seeds; the whole folder is skipped where torch is absent."""

import importlib.util

import pytest

if importlib.util.find_spec("torch") is None:  # the optional "nn" extra is not installed
    collect_ignore_glob = ["test_*.py", "nn_helpers.py"]
else:
    import torch

    @pytest.fixture(autouse=True)
    def _seeded():
        torch.manual_seed(0)
        yield
