"""Templates (DESIGN §3): the versioned blueprint of a chart.

- ``models``: the model everything else builds on (``Template``, ``Parameter``, ``Layer``,
  ``Resource``, ``Binding``, ``Problem``); it imports nothing of the domain.
- ``parsing``: YAML to a ``Template`` with every problem at once (``parse_template``), and
  ``validate_template`` for the checks against the Kubernetes schemas (in ``checks``).
- ``removed_apis``: apiVersions Kubernetes removed, as data (the checks refuse them).
- ``placeholders``: ``${ctx.KEY}`` and ``${values.PATH}`` in template text.
- ``layering``: effective values for one context (defaults, matching layers, overrides).
- ``value_schemas``: values.schema.json derived from the fields each parameter is bound to.
- ``bootstrap`` and ``merges``: a first template from Kubernetes objects, and a re-run of
  ``template init`` that keeps the creator's edits.

Modules import ``models`` and each other in that order; nothing here imports ``charts``.
"""
