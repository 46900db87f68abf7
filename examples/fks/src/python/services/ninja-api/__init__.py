"""fks-ninja-api: bridge to NinjaTrader for order routing."""
