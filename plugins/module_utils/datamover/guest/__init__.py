"""Inside the guest: a restore point's disk read in place (``view``), its partitions and the files of its NTFS
volumes (file-level restore), without writing the disk out first."""
