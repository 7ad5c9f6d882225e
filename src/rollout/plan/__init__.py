"""The rollout plan: typed model of every template section, YAML loading, schema, rendering."""
