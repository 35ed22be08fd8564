"""DynCP Conv-FSENet models, scoring, mask probes, auxiliary baselines and reports."""
