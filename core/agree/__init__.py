"""Array math on model scores and attributions: scores, agreement metrics, all pairs at once, intervals, correlated groups."""
