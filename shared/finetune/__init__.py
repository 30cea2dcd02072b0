"""Fine-tuning: model catalog, exports, token counts and estimates, providers, webhooks, completion charts.

Import from the submodules; this package imports nothing, so that reaching one exception class does not load
every provider.
"""
