"""The contract between the image (deploy/Dockerfile.kserve), the storage layout and the
manifests of deploy/: paths, ports, the TorchServe command and the probes, defined once.

tests/unit/test_kserve_manifests.py checks every manifest against these values, and
tests/integration/test_kserve_probe.py runs the command and the probes against a real
TorchServe, so a change here that the manifests do not follow fails a test.
"""

from pathlib import PurePosixPath

IMAGE = "torchserve-nlp-kserve:0.1.0"  # what `make kserve-image` tags (deploy/Dockerfile.kserve)
DOCKERFILE = "deploy/Dockerfile.kserve"
RUN_AS_USER = 1000  # the image's model-server user

# KServe's storage initializer downloads storageUri here; the same path in the plain
# Deployment, whose init container runs the same storage initializer.
MOUNT = PurePosixPath("/mnt/models")
CONFIG_DIR = "config"
CONFIG_FILE = "config.properties"
METRICS_FILE = "metrics.yaml"
STORE_DIR = "model-store"

# KServe routes to the container's one port (8080 by default); TorchServe answers the v1 and
# v2 (open inference) REST protocols on its inference listener, bound there.
INFERENCE_PORT = 8080
MANAGEMENT_PORT = 8081  # loopback only: the startup probe reads worker states from it
METRICS_PORT = 8082  # Prometheus scrapes it
GRPC_INFERENCE_PORT = 7070  # TorchServe always starts its gRPC listeners: loopback only
GRPC_MANAGEMENT_PORT = 7071
ALL_INTERFACES = "0.0.0.0"
LOOPBACK = "127.0.0.1"

LIVE_PATH = "/v2/health/live"
READY_PATH = "/v2/health/ready"


def config_path(mount: PurePosixPath = MOUNT) -> PurePosixPath:
    return mount / CONFIG_DIR / CONFIG_FILE


def store_path(mount: PurePosixPath = MOUNT) -> PurePosixPath:
    return mount / STORE_DIR


def torchserve_args(mount: PurePosixPath = MOUNT) -> list[str]:
    """The container's command: TorchServe itself, in the foreground (the container lives as
    long as it does), no Python wrapper. ``--disable-token-auth`` repeats the layout's
    ``disable_token_authorization=true`` so that the probes work whatever config the storage
    holds (docs/kserve.md, "Probes and authorization")."""
    return [
        "torchserve", "--start", "--foreground", "--ncs", "--disable-token-auth",
        f"--model-store={store_path(mount)}", f"--ts-config={config_path(mount)}",
    ]


def management_url() -> str:
    return f"http://{LOOPBACK}:{MANAGEMENT_PORT}"


def startup_probe_command() -> list[str]:
    """Succeeds once every registered model has all its workers READY (one look, no wait):
    ``/v2/health/ready`` alone answers 200 while workers are still loading."""
    return [
        "python", "-m", "torchserve_nlp.cli.wait_until_ready",
        "--management", management_url(), "--timeout", "0",
    ]
