"""The floor of the data mover: its errors, durable file system steps and direct I/O."""
