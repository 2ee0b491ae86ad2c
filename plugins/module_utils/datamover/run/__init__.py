"""Operations on an opened repository: backup, restore, verify, prune, jobs of several VMs."""
