"""Evaluation: the paper's published figures (`celestialclass.evaluation.paper`)."""
