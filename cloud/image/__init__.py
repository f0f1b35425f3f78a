"""The real Docker path: build the service's image, push it to a real registry, pull it per host.

- ``reference``: image references (``127.0.0.1:5000/fraud-detection:slim``) parsed; pure.
- ``layers``: the layer table (size per layer and what it holds) and pull-time arithmetic; pure.
- ``build``: ``docker build`` through the Docker SDK, its log streamed (REAL).
- ``registry``: the kit's local registry (CNCF distribution, Debian's ``docker-registry``)
  started and stopped on 127.0.0.1, or LocalStack's ECR registry when it serves one.
- ``distribution``: a small client of the Registry HTTP API v2 (manifests and blobs).
- ``push``: ``docker push`` with per-layer progress, as data and as text bars (REAL).
- ``pull``: one host's pull at the registry-protocol level into that host's layer store (REAL).

Nothing here imports Textual, ipywidgets or Flask; the Docker SDK is imported where it is used.
"""
