"""The autoscalers the benchmark compares forescale with, re-implemented from their docs."""
