"""Fitting the morphable model to observations (landmarks, images)."""
