"""Evaluation runs: metrics (``faceforge.metrics``) applied to datasets (``faceforge.datasets``) with the fitter.

``evaluate_landmark_folder`` (300-W style folders) and ``evaluate_synthetic`` (the synthetic benchmark) are what
``faceforge eval`` and the ``faceforge bench`` suites "landmarks-300w" and "synthetic" run.
"""
