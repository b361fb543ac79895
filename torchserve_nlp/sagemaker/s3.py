"""The model from S3: ``s3://BUCKET_NAME/MODEL_PATH`` downloaded with boto3 and unpacked.

A model.tar.gz comes from outside, so ``safe_extract`` checks every member before writing
anything: an absolute path, ``..``, a link or a special file refuses the whole archive.
boto3 is imported only when a download happens (it honours AWS_ENDPOINT_URL and AWS_*).
"""

import logging
import re
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

from torchserve_nlp.archive.model_source import ModelSourceError, check_model_dir
from torchserve_nlp.sagemaker.model import CONFIG_JSON
from torchserve_nlp.sagemaker.settings import S3Object, ServeConfigError

logger = logging.getLogger(__name__)


class UnsafeArchiveError(ValueError):
    """A tar member that could write outside the extraction directory."""


def unsafe_member_reason(member: tarfile.TarInfo) -> str | None:
    """Why extracting ``member`` could escape the target directory, or None if it is safe."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", member.name):
        return "absolute path"
    if ".." in path.parts:
        return "parent directory ('..') in its path"
    if member.issym() or member.islnk():
        return f"link to {member.linkname!r}"
    if not (member.isfile() or member.isdir()):
        return "not a regular file or directory"
    return None


def safe_extract(archive: Path, dest: Path) -> None:
    """Unpack ``archive`` (tar, optionally compressed) into ``dest`` after checking every
    member: absolute paths, ``..``, links and special files refuse the whole archive before
    anything is written. Python's ``data`` extraction filter checks again while writing."""
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            reason = unsafe_member_reason(member)
            if reason is not None:
                raise UnsafeArchiveError(
                    f"{archive.name}: refused member {member.name!r}: {reason}"
                )
        dest.mkdir(parents=True, exist_ok=True)
        tar.extractall(dest, members=members, filter="data")


def model_root(extracted: Path) -> Path:
    """The directory holding config.json: ``extracted`` itself or its only subdirectory."""
    if (extracted / CONFIG_JSON).is_file():
        return extracted
    entries = [p for p in extracted.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / CONFIG_JSON).is_file():
        return entries[0]
    names = sorted(p.name for p in entries)
    raise ServeConfigError(
        "MODEL_PATH",
        f"the archive holds no {CONFIG_JSON} at its top level or in a single top-level "
        f"directory (found {names}); pack save_pretrained output",
    )


def download(s3_object: S3Object, target: Path, client: Any = None) -> Path:
    """``s3_object`` into ``target`` with boto3 (which honours AWS_ENDPOINT_URL)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = client or boto3.client("s3")
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("downloading %s", s3_object.uri)
    try:
        client.download_file(s3_object.bucket, s3_object.key, str(target))
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NoSuchBucket"):
            detail = f"{s3_object.uri} does not exist (S3 said {code})"
        else:
            detail = f"cannot download {s3_object.uri}: {error}"
        raise ServeConfigError("BUCKET_NAME/MODEL_PATH", detail) from error
    except BotoCoreError as error:
        raise ServeConfigError(
            "BUCKET_NAME/MODEL_PATH", f"cannot download {s3_object.uri}: {error}"
        ) from error
    return target


def fetch_s3_model(s3_object: S3Object, work_dir: Path, client: Any = None) -> Path:
    """Download and safely unpack the model.tar.gz; the save_pretrained directory in it."""
    archive = download(s3_object, work_dir / "download" / "model.tar.gz", client)
    extracted = work_dir / "s3_model"
    try:
        safe_extract(archive, extracted)
    except (UnsafeArchiveError, tarfile.TarError, EOFError, OSError) as error:
        raise ServeConfigError("MODEL_PATH", f"{s3_object.uri}: {error}") from error
    archive.unlink()
    root = model_root(extracted)
    try:
        return check_model_dir(root, s3_object.uri)
    except ModelSourceError as error:
        raise ServeConfigError("MODEL_PATH", str(error)) from error
