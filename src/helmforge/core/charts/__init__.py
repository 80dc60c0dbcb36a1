"""Chart generation (DESIGN §4): a template and a context in, the chart's files out.

- ``rendering``: ``render_chart(template, context, ...) -> RenderedChart`` (files as bytes).
- ``files``: the fixed files (Chart.yaml, values.yaml, README.md, helpers, NOTES.txt).
- ``go_templates``: Helm template text whose literal parts Helm prints verbatim.
- ``crds``: CustomResourceDefinitions as plain YAML in ``crds/`` (an extension of §4: Helm
  installs them before ``templates/``, so their custom resources install on a fresh cluster).
"""
