"""fks-training: model training jobs (GPU)."""
