"""Sources, detectors, tracker adapter and counting pipeline. Never imports store, service or UI."""
