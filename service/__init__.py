"""The fraud model service: data simulator, features, training, inference and the HTTP app.

Knows nothing of where it runs: task id, host id and port come from its environment.
"""
