"""Deterministic, labelled noisy-speech dataset generation (corpus -> plan -> render -> labels)."""
