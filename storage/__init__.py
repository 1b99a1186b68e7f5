"""Storage concerns shared by the write and read sides: integrity errors, store identity."""
