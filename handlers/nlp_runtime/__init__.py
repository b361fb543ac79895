"""The runtime every archive carries whole: what a TorchServe worker runs.

Only ``base`` imports TorchServe; ``errors`` and ``wire`` are plain Python. Nothing is
imported here, so an archive loads only what its handler needs."""
