"""The package version, in one place (pyproject.toml reads it; bundles and manifests record it)."""

__version__ = "0.2.0"
