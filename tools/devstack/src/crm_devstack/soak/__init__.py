"""`make soak`: a steady mixed load for minutes on end, sampled every minute."""
