"""The WordPiece tokenizer in TorchScript, scripted together with its classifier."""
