"""JSON Schema and Kubernetes schema sets.

- ``validation``: a small draft-07 validator for the schemas helmforge writes (``Validator``,
  ``schema_problems`` for the constraints a template declares).
- ``kubernetes``: one Kubernetes version's schemas (``SchemaSet``): look up, walk, validate.
- ``openapi``: CRDs, a cluster's OpenAPI v3 and swagger.json turned into JSON schemas.
- ``compilers``: schemas compiled into predicates, the fast "is this object valid?" of imports.

Nothing here knows templates or charts; the template domain builds on it.
"""
