"""The way out: the running deployment exported as CloudFormation and Kubernetes manifests,
and a run exported as a report.

``state`` reads the deployment through the AWS API (the only I/O); ``cloudformation`` and
``kubernetes`` render it (pure); ``mapping`` is the side-by-side ECS ↔ Kubernetes table (data);
``runs`` records a run from the local cloud's snapshots into the state directory and
``run_report`` draws it (plotly) for ``fraudlab report``, the demo and the labs.
"""
