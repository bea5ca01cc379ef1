"""Evidence while sampling: the per-step safety monitor, A/B compare of strength sweeps, and plots."""
