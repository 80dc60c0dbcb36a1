"""Instances: a deployed target ``product/customer/environment/instance`` in a GitOps repository.

- ``layout``: the instance id, its segments' rules and where its files live in the repository;
- ``ssh_keys``: the shape of an SSH deploy key and of pinned ``known_hosts`` lines;
- ``commit_messages``: what a user's text may be in a commit body (no forged trailers);
- ``application``: the Argo CD ``Application`` (multi-source: the chart, then the values);
- ``values_edits``: structured edits of values.yaml that keep comments, key order and anchors;
- ``values_diff``: what changed between two sets of overrides (leaves and a unified diff);
- ``value_paths``: dotted paths into values (``image.tag``, ``env[0].name``);
- ``promotions``: the environment a promotion goes to, and the override it copies at a path.
"""
