"""Transitional alias: tests/worker_context.py's WorkerContext is TorchServe's real Context."""

from tests.worker_context import WorkerContext as FakeContext

__all__ = ["FakeContext"]
