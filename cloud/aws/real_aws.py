"""The way out to real AWS, kept for its old import path: the code is in ``cloud.aws.real``
(``fraudlab aws deploy|status|destroy``; ``fraudlab deploy --real-aws`` is ``aws deploy``)."""

from cloud.aws.real.plan import CONFIRM_ENV, RealAwsRefused, RealAwsRequest, confirmed, plan

__all__ = ["CONFIRM_ENV", "RealAwsRefused", "RealAwsRequest", "confirmed", "plan"]
