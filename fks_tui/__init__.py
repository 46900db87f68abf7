"""fks-tui: build, watch and push the Docker images of a multi-service repository."""

__version__ = "0.1.0"
