"""Application Auto Scaling for ECS services.

``target_tracking`` (pure: the policy's alarms and the desired count it asks for), ``alarms``
(pure: per-minute datapoints and M-of-N windows), ``controller`` (reads the policies through the
AWS API, evaluates them each lab minute, sets the desired count).
"""
