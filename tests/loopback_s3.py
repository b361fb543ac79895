"""An S3-compatible server (moto) on a free loopback port, for the tests that upload to S3 and
serve what a real client fetches back."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def loopback_s3() -> Iterator[dict[str, str]]:
    """The environment a client of the running server needs: ``AWS_ENDPOINT_URL`` and test
    credentials. The server stops on exit."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield {"AWS_ENDPOINT_URL": f"http://{host}:{port}", **CREDENTIALS}
    finally:
        server.stop()


def s3_client(env: dict[str, str]) -> Any:
    """A boto3 S3 client for the server ``env`` (from ``loopback_s3``) names."""
    return boto3.client(
        "s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
