"""What every AWS service here shares: the injected clock, EC2 instance types as ECS sees
them, the per-user state directory and who owns a leftover process or container."""
