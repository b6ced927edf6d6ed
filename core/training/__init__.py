"""Datasets, feature descriptions, model banks and their training: Dataset + RunConfig -> Run."""
