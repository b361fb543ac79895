"""Deployment of archives to Kubernetes: KServe's storage layout for TorchServe
(``layout``), the container contract the manifests of ``deploy/`` rely on (``container``) and
the command that writes the layout (``cli``, ``scripts/kserve_layout.py``).

Nothing here talks to a cluster; docs/kserve.md says what was tested where.
"""
