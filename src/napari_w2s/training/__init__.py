"""Training: patch data sets from W2S layouts, losses, the resumable training loop."""
