"""Cross-model alignment: maps from a source to a target model fitted on benign anchors only (ridge, Procrustes, MLP), transport of directions through them, and the transfer reports that test it."""
