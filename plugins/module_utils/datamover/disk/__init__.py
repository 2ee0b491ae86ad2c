"""Disks: read-only sources (raw, VHDX chains, VM files) with their allocation maps, and restore targets."""
