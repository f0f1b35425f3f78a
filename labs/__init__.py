"""FraudLab's Jupyter labs: eight notebooks, one template, live ipywidgets views.

The notebooks only call ``labs.lessons`` and wire widgets; the logic lives in ``labs.kit``.
Labs are thin clients of the local cloud: boto3 against its AWS endpoint, the control API for
live state and the kit's own actions. They decide nothing themselves.
"""
