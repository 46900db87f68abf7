"""fks-data: market-data ingestion and storage."""
