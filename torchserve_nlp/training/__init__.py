"""Fine-tuning and training the default models, each writing its held-out metrics."""
