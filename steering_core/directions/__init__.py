"""Safety directions: diff-of-means estimation per category, gates calibrated on benign prompts, universal directions, token pooling, scores and AUROC, and the shipped prompt data."""
