"""Building archives: torch-model-archiver runs, Transformer export and tracing,
predict_single packaging."""
