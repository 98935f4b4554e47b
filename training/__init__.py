"""Training: labelled pairs from outcomes and history, ranker fitting, model registry, promotion gate."""
