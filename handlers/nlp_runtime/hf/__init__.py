"""Hugging Face models in archives: handler configuration, tokenizer, loading and windowed
forwards."""
