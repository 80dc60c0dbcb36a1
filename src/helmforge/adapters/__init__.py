"""Thin wrappers around the outside world: storage, archives, registries, Git, Kubernetes."""
