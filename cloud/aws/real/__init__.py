"""FraudLab on real AWS: ``fraudlab aws deploy|status|destroy`` (never a default).

``plan`` (what is created, the template) and ``costs`` (the hourly estimate) are pure;
``access`` (your credentials), ``push`` (ECR), ``stack`` (CloudFormation), ``deploy``,
``status`` and ``destroy`` do the calls.
"""
