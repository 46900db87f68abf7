"""Code shared by all FKS services."""
