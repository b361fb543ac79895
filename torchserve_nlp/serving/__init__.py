"""Running the real TorchServe: its config, its process and its readiness.

Kept apart from the archive builders because three callers share it (the SageMaker
entrypoint, ``scripts/wait_until_ready.py`` and the integration tests), and none of it depends
on where this repository is checked out: every path is an argument.
"""
