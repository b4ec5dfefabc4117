"""Model provisioning from package registries (npm, PyPI) or a hand-copied directory, and converters to ONNX."""
