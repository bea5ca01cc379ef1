"""SafeSteer files: safetensors with string metadata validated from the header, loading by kind, never-overwrite names."""
