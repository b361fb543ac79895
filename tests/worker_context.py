"""TorchServe's own ``Context``, set up as its worker sets it, for tests that call a handler's
``initialize`` and ``handle`` directly.

The worker builds one ``Context`` per model and, for each batch, gives it one
``RequestProcessor`` per request holding that request's headers; handlers report statuses and
content types through them. Here the processors are made on first use from ``headers``
(request index → headers), so a test needs no batch size up front; ``statuses`` and
``content_types`` read back what the handler reported.
"""

from pathlib import Path

import ts
from ts.context import Context, RequestProcessor


class _Processors(dict):
    """Request index → RequestProcessor, made on first access from the test's headers."""

    def __init__(self, headers: dict[int, dict[str, str]]) -> None:
        super().__init__()
        self.headers = headers

    def __missing__(self, idx: int) -> RequestProcessor:
        processor = RequestProcessor(dict(self.headers.get(idx, {})))
        self[idx] = processor
        return processor


class WorkerContext(Context):
    def __init__(
        self, model_dir: Path, yaml_config: dict | None = None,
        serialized_file: str = "model.safetensors",
        headers: dict[int, dict[str, str]] | None = None,
        model_name: str = "test_model",
    ) -> None:
        manifest = {"model": {"modelName": model_name, "serializedFile": serialized_file}}
        super().__init__(
            model_name, str(model_dir), manifest, batch_size=8, gpu=None,
            mms_version=ts.__version__, model_yaml_config=yaml_config or {},
        )
        self.request_processor = _Processors(headers or {})

    @property
    def statuses(self) -> dict[int, int]:
        """Request index → status, for the requests whose status is not 200."""
        return {
            idx: processor.get_response_status_code()
            for idx, processor in sorted(self.request_processor.items())
            if processor.get_response_status_code() != 200
        }

    @property
    def content_types(self) -> dict[int, str | None]:
        return {
            idx: processor.get_response_header("content-type")
            for idx, processor in sorted(self.request_processor.items())
        }
