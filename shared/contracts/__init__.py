"""The contract between processes: what goes on the jobs and voice queues, how it is sent, and which shard's
queue holds a guild."""
