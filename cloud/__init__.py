"""The local cloud: AWS API endpoint, deploy steps, controllers, runtimes, load balancer.

Imports neither Textual nor Flask: replicas of the model service run as processes or
containers, and the user interfaces are clients of this package.
"""
