"""Sparse autoencoders (SafeDIG-style): harvest, routing, training, safety features, decoder adaptation, Blend/Repel steering, the Safety SAE file and the host-independent training pipeline."""
