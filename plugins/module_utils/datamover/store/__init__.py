"""The repository on disk: packs, index, restore points, keys, locks, and the format constants."""
