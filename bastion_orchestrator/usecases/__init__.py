"""Use cases (orchestrator, reaper), their wiring, and the entry-point dispatch."""
