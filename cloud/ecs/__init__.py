"""Amazon ECS in the local cloud.

Pure policy: ``placement`` (which instance gets a task), ``scheduler`` (the service
scheduler's reconcile), ``managed_scaling`` (a capacity provider's CapacityProviderReservation).
I/O: ``controller`` (the control loop), ``capacity_provider`` (runs managed scaling),
``writeback`` (the truth written into the emulator), ``cloudwatch`` (service CPU/memory metrics).
"""
