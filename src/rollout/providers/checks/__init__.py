"""Gate checks: commands and HTTP smoke requests."""
