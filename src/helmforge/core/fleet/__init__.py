"""Fleet operations (DESIGN §10), the pure part: what verification and impact conclude.

- ``verification``: the drift of one instance from what helmforge recorded (a tag moved, an
  archive that no longer reproduces, an Application pointing elsewhere, values edited in Git);
- ``filters``: which instances a fleet request names (``{"product", "customer",
  "environment"}``).
"""
