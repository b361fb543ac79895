"""Held-out metrics: NER span F1, SQuAD 2.0 exact match and F1."""
