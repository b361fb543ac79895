"""Wire format: one TorchServe request → a frozen, validated request object, or a RequestError."""
