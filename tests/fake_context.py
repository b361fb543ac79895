"""What TorchServe hands a handler, for unit tests that call ``handle`` directly."""

from pathlib import Path


class FakeContext:
    """Model dir, manifest, yaml config; records response statuses by request index."""

    def __init__(
        self, model_dir: Path, yaml_config: dict | None = None,
        serialized_file: str = "model.safetensors",
        headers: dict[int, dict[str, str]] | None = None,
    ) -> None:
        self.headers = headers or {}
        self.system_properties = {"model_dir": str(model_dir)}
        self.manifest = {"model": {"serializedFile": serialized_file}}
        self.model_yaml_config = yaml_config or {}
        self.statuses: dict[int, int] = {}

    def set_response_status(self, code: int, phrase: str, idx: int) -> None:
        self.statuses[idx] = code

    def set_response_content_type(self, idx: int, value: str) -> None:
        pass

    def get_all_request_header(self, idx: int) -> dict:
        return self.headers.get(idx, {})

    def get_request_header(self, idx: int, key: str) -> str | None:
        return self.headers.get(idx, {}).get(key)
