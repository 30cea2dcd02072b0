"""The worker function: takes slow jobs off the jobs queue and edits each interaction's deferred reply."""
