"""fks-transformer: transformer-model inference (GPU)."""
