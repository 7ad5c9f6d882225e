"""Feature flags: model, bucketing and the pure, compiled evaluator."""
