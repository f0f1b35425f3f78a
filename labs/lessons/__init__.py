"""The eight labs, one module each; every module defines ``LAB`` (a ``labs.kit.template.Lab``)."""

NAMES = ["lab01_image", "lab02_ecr", "lab03_taskdef", "lab04_service", "lab05_load_balancer",
         "lab06_failure", "lab07_autoscaling", "lab08_aws_vs_kubernetes"]
