"""What a screen asks beyond Summary: story, what-if, dependence, cohorts, run-vs-run diff, release gate."""
