"""Metric sources: built-in telemetry, Prometheus, command."""
