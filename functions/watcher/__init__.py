"""The fine-tune watcher: a schedule that polls active jobs, and the OpenAI webhook endpoint."""
