"""The pipeline: compare() once, summarize() into Summary (the view model); presets, time estimate, the Ray engine."""
