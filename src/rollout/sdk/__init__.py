"""The Python SDK: local evaluation, streaming updates, outcome telemetry, OpenFeature."""
