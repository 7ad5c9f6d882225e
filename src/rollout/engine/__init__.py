"""The rollout state machine: pure decide() and the runner that carries out its actions."""
