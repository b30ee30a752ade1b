"""Dataset readers (300-W .pts, ...) and synthetic data."""
