"""The SageMaker entrypoint's environment, read once into a frozen ``ServeSettings``.

Apart from the rest so that every variable's rules sit together and are checked before
anything on disk or on the network is looked at: each error is a ``ServeConfigError`` that
names its variable, which the command line prints as its one line.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from torchserve_nlp.serving.torchserve import LOOPBACK

# S3's bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens.
BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
TRUE, FALSE = "true", "false"


class ServeConfigError(ValueError):
    """A configuration problem, reported as ``<VARIABLE>: <what is wrong>``."""

    def __init__(self, variable: str, detail: str) -> None:
        super().__init__(f"{variable}: {detail}")
        self.variable = variable


class ModelOrigin(Enum):
    LOCAL = "local"  # HUB_MODEL_NAME: a directory or a packaged name
    S3 = "s3"  # s3://BUCKET_NAME/MODEL_PATH, a model.tar.gz of save_pretrained output


class WorkerPolicy(Enum):
    SERVERLESS = "serverless"  # exactly one worker
    PER_CPU = "per-cpu"  # one worker per CPU core

    def count(self, cpu_count: int | None) -> int:
        return 1 if self is WorkerPolicy.SERVERLESS else max(1, cpu_count or 1)


class BindScope(Enum):
    LOOPBACK = LOOPBACK
    ALL = "0.0.0.0"  # SageMaker needs it; the Dockerfile sets BIND_ALL=true


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Ports:
    inference: int = 8080
    management: int = 8081
    metrics: int = 8082
    grpc_inference: int = 7070
    grpc_management: int = 7071


# Environment variable of each port; SAGEMAKER_BIND_TO_PORT is SageMaker's own name.
PORT_VARIABLES = {
    "inference": "SAGEMAKER_BIND_TO_PORT",
    "management": "SERVE_MANAGEMENT_PORT",
    "metrics": "SERVE_METRICS_PORT",
    "grpc_inference": "SERVE_GRPC_INFERENCE_PORT",
    "grpc_management": "SERVE_GRPC_MANAGEMENT_PORT",
}


@dataclass(frozen=True)
class ServeSettings:
    origin: ModelOrigin
    hub_model_name: str | None  # set exactly when origin is LOCAL
    s3_object: S3Object | None  # set exactly when origin is S3
    tokenizer: str | None
    workers: WorkerPolicy
    bind: BindScope
    ports: Ports
    work_dir: Path | None  # None: a fresh temporary directory


def _value(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value stripped; unset and blank are the same."""
    value = env.get(name, "").strip()
    return value or None


def parse_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _value(env, name)
    if value is None:
        return default
    if value.lower() not in (TRUE, FALSE):
        raise ServeConfigError(name, f"must be true or false (any letter case), got {value!r}")
    return value.lower() == TRUE


def parse_port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _value(env, name)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ServeConfigError(name, f"must be a port number 1-65535, got {value!r}")
    return int(value)


def parse_ports(env: Mapping[str, str]) -> Ports:
    defaults = Ports()
    values = {
        field: parse_port(env, variable, getattr(defaults, field))
        for field, variable in PORT_VARIABLES.items()
    }
    seen: dict[int, str] = {}
    for field, port in values.items():
        if port in seen:
            raise ServeConfigError(
                PORT_VARIABLES[field],
                f"port {port} is also {seen[port]}'s; every listener needs its own port",
            )
        seen[port] = PORT_VARIABLES[field]
    return Ports(**values)


def parse_bucket(value: str) -> str:
    if value.lower().startswith("s3://"):
        raise ServeConfigError(
            "BUCKET_NAME", f"give the bucket's name only, without s3:// (got {value!r})"
        )
    if not BUCKET_PATTERN.match(value) or ".." in value:
        raise ServeConfigError(
            "BUCKET_NAME",
            f"{value!r} is not a valid S3 bucket name (3-63 lower-case letters, digits, dots "
            "and hyphens)",
        )
    return value


def parse_key(value: str) -> str:
    if value.lower().startswith("s3://"):
        raise ServeConfigError(
            "MODEL_PATH", f"give the object key inside BUCKET_NAME, not a URI (got {value!r})"
        )
    if not value.endswith(".tar.gz"):
        raise ServeConfigError(
            "MODEL_PATH",
            f"must name a .tar.gz of save_pretrained output (like model.tar.gz), got {value!r}",
        )
    return value.lstrip("/")


def parse_origin(env: Mapping[str, str], local: bool) -> tuple[str | None, S3Object | None]:
    """HUB_MODEL_NAME for a local model; BUCKET_NAME and MODEL_PATH for S3; never both."""
    name, bucket, key = (_value(env, v) for v in ("HUB_MODEL_NAME", "BUCKET_NAME", "MODEL_PATH"))
    if local:
        for variable, value in (("BUCKET_NAME", bucket), ("MODEL_PATH", key)):
            if value is not None:
                raise ServeConfigError(
                    variable,
                    f"is set ({value!r}) but LOCAL=true serves HUB_MODEL_NAME; unset "
                    f"{variable} or set LOCAL=false",
                )
        if name is None:
            raise ServeConfigError(
                "HUB_MODEL_NAME",
                "is required when LOCAL=true: a directory of save_pretrained output or a "
                "packaged model name",
            )
        return name, None
    if name is not None:
        raise ServeConfigError(
            "HUB_MODEL_NAME",
            f"is set ({name!r}) but LOCAL is not true, so the model comes from "
            "s3://BUCKET_NAME/MODEL_PATH; unset HUB_MODEL_NAME or set LOCAL=true",
        )
    for variable, value in (("BUCKET_NAME", bucket), ("MODEL_PATH", key)):
        if value is None:
            raise ServeConfigError(
                variable,
                "is required when LOCAL is not true (the model is fetched from "
                "s3://BUCKET_NAME/MODEL_PATH); set BUCKET_NAME and MODEL_PATH, or LOCAL=true "
                "with HUB_MODEL_NAME",
            )
    assert bucket is not None and key is not None
    return None, S3Object(parse_bucket(bucket), parse_key(key))


def parse_env(env: Mapping[str, str]) -> ServeSettings:
    """The serving settings; ServeConfigError naming the first bad or contradictory variable.
    Only reads ``env``: nothing on disk or on the network is looked at yet."""
    local = parse_bool(env, "LOCAL", default=False)
    name, s3_object = parse_origin(env, local)
    serverless = parse_bool(env, "SERVERLESS", default=False)
    bind_all = parse_bool(env, "BIND_ALL", default=False)
    work_dir = _value(env, "SERVE_WORK_DIR")
    return ServeSettings(
        origin=ModelOrigin.LOCAL if local else ModelOrigin.S3,
        hub_model_name=name,
        s3_object=s3_object,
        tokenizer=_value(env, "TOKENIZER"),
        workers=WorkerPolicy.SERVERLESS if serverless else WorkerPolicy.PER_CPU,
        bind=BindScope.ALL if bind_all else BindScope.LOOPBACK,
        ports=parse_ports(env),
        work_dir=Path(work_dir).expanduser() if work_dir else None,
    )
