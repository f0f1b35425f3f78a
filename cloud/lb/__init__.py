"""The Application Load Balancer data plane of the local cloud (ecs-facts.md §6).

``routing`` picks a target (round_robin by default, least_outstanding_requests opt-in, fail
open when no target is healthy); ``health`` is the target-health state machine; ``proxy`` is
the real HTTP/1.1 reverse proxy that uses both and records a routing trace, on ``listener``
(the client side), ``upstream`` (keep-alive connection pools to the targets) and ``http1``
(parsing); ``sync`` keeps it configured from the target group in the ELBv2 API and writes its
targets and their health back.
"""
