"""Names of the files that training, archiving and serving hand each other, defined once.

The names a handler reads are the runtime's own (``nlp_runtime``); the build side uses them
from here.
"""

from nlp_runtime.files import INDEX_TO_NAME, SETUP_CONFIG

METRICS_FILE = "metrics.json"  # held-out metrics, written by training, archived beside the model
MODEL_CONFIG_YAML = "model-config.yaml"  # TorchServe's per-model settings (batching, workers)
TRACED_FILE = "traced_model.pt"  # a traced Transformer, as the seed's download script names it

__all__ = ["INDEX_TO_NAME", "METRICS_FILE", "MODEL_CONFIG_YAML", "SETUP_CONFIG", "TRACED_FILE"]
