"""Pure post-processing of model outputs: probabilities, answer spans, entity grouping."""
