"""VHDX (MS-VHDX v1.0): on-disk structures, log replay, block allocation table, chains, reader and writer."""
