"""W2S-like simulated data with known ground truth."""
