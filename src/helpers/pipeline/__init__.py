"""The machinery of a run: profiles, the runner, stages (the artifact contract), files, the book build.

This layer imports no science code: it knows notebooks, files and hashes, not models.
"""
