"""One handler class per task, each on base.BatchHandler."""
