"""Names of the files a handler reads from its unpacked archive (plain Python)."""

SETUP_CONFIG = "setup_config.json"  # the Transformer handlers' configuration (hf.config)
INDEX_TO_NAME = "index_to_name.json"  # {"0": "Negative", ...}: classifier labels
