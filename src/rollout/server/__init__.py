"""HTTP API, SSE stream, telemetry intake and dashboard."""
