"""The domain's plain types: examples, feedback and corrections, dataset names, record times."""
