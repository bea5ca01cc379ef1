"""Steering: the ops on activations (add, gated, project-out), DiT per-site plans and edits, intervention sites and the per-architecture facts steering needs."""
