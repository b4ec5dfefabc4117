"""Model provisioning from package registries (npm, PyPI) or a hand-copied directory.

Also the converters to ONNX. Must not download from model hubs or URLs.
"""
