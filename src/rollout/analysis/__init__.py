"""Statistics: criteria judging, anytime-valid sequential tests, verdicts with reasons."""
