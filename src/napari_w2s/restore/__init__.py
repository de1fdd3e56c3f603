"""Restoration: device choice, tiled inference engine, classical denoisers, pipelines."""
