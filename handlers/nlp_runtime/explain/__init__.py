"""Explanations: integrated gradients, SHAP, and word rows with character offsets."""
