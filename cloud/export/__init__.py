"""The way out: the running deployment exported as CloudFormation and Kubernetes manifests.

``state`` reads it through the AWS API (the only I/O); ``cloudformation`` and ``kubernetes``
render it (pure); ``mapping`` is the side-by-side ECS ↔ Kubernetes table (data).
"""
