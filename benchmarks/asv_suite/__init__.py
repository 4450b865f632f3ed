"""asv benchmark suite of fastcheck (see ../README.md for the commands)."""
