"""What ``agenttree containers`` offers by name, and its defaults: a module that imports
nothing, so the command line builds its parser without loading a backend."""

BACKENDS = ("local", "docker", "kubernetes")
DEFAULT_TTL_S = 3600
"""Seconds Kubernetes keeps a finished Job (``ttlSecondsAfterFinished``)."""
PROJECT_CLAIM = "agenttree-project"
"""The PersistentVolumeClaim holding the project, for a Kubernetes Job's mounts."""
DEFAULT_SUITE = "bookworm"
"""The Debian release images are built from."""
