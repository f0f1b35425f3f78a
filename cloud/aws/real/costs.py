"""What a real deployment costs per hour, from a small table of AWS list prices (pure).

The figures are public on-demand list prices for us-east-1 (N. Virginia), Linux, as published
on the pages in ``SOURCES`` (checked 2025); other regions differ by a few to ~30 %, and
discounts, free tier, taxes and data transfer are not counted. The estimate is stated as such
wherever it is shown: the bill is the truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PRICES_REGION = "us-east-1"
PRICES_CHECKED = "2025"
EC2_HOURLY: Mapping[str, float] = {  # on-demand Linux, USD per instance-hour
    "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832,
    "t3.xlarge": 0.1664, "m5.large": 0.096, "m5.xlarge": 0.192, "c5.large": 0.085,
    "c5.xlarge": 0.17,
}
ALB_HOURLY = 0.0225  # per Application Load Balancer-hour (partial hours billed as full)
ALB_LCU_HOURLY = 0.008  # per LCU-hour; the estimate counts one LCU (a light test load)
GP3_GB_MONTH = 0.08  # EBS gp3 storage, USD per GB-month
ROOT_VOLUME_GB = 30  # the ECS-optimized Amazon Linux 2023 AMI's root volume
PUBLIC_IPV4_HOURLY = 0.005  # every public IPv4 address, in use or not (since Feb 2024)
ALB_PUBLIC_IPS = 2  # an internet-facing ALB in two Availability Zones: one address per AZ
ALARM_MONTH = 0.10  # a standard-resolution CloudWatch alarm, per month
TARGET_TRACKING_ALARMS = 2  # a target-tracking policy creates a high and a low alarm
ECR_GB_MONTH = 0.10  # ECR storage, USD per GB-month
HOURS_PER_MONTH = 730
SOURCES = (
    "https://aws.amazon.com/ec2/pricing/on-demand/",
    "https://aws.amazon.com/elasticloadbalancing/pricing/",
    "https://aws.amazon.com/ebs/pricing/",
    "https://aws.amazon.com/vpc/pricing/ (public IPv4 addresses)",
    "https://aws.amazon.com/cloudwatch/pricing/",
    "https://aws.amazon.com/ecr/pricing/",
)


@dataclass(frozen=True)
class CostLine:
    """One billed item: what, how many, USD per hour for all of them."""

    item: str
    quantity: float
    hourly: float


def instance_hourly(instance_type: str) -> float:
    """The list price of one instance-hour; ValueError for a type not in the table."""
    if instance_type not in EC2_HOURLY:
        known = ", ".join(sorted(EC2_HOURLY))
        raise ValueError(f"no list price for {instance_type} in the kit's table ({known})")
    return EC2_HOURLY[instance_type]


def hourly_lines(instance_type: str, hosts: int, autoscale: bool,
                 image_gb: float = 0.5) -> list[CostLine]:
    """The estimate's lines for ``hosts`` instances, one ALB, the alarms and the image."""
    volume = ROOT_VOLUME_GB * GP3_GB_MONTH / HOURS_PER_MONTH
    lines = [
        CostLine(f"EC2 {instance_type} (on-demand)", hosts, hosts * instance_hourly(instance_type)),
        CostLine(f"EBS gp3 root volume, {ROOT_VOLUME_GB} GB each", hosts, hosts * volume),
        CostLine("public IPv4 address (hosts in the default VPC get one)", hosts,
                 hosts * PUBLIC_IPV4_HOURLY),
        CostLine("Application Load Balancer", 1, ALB_HOURLY),
        CostLine("ALB capacity units (1 LCU assumed)", 1, ALB_LCU_HOURLY),
        CostLine("ALB public IPv4 addresses", ALB_PUBLIC_IPS, ALB_PUBLIC_IPS * PUBLIC_IPV4_HOURLY),
        CostLine(f"ECR storage (~{image_gb:g} GB image)", image_gb,
                 image_gb * ECR_GB_MONTH / HOURS_PER_MONTH),
    ]
    if autoscale:
        lines.append(CostLine("CloudWatch alarms of target tracking", TARGET_TRACKING_ALARMS,
                              TARGET_TRACKING_ALARMS * ALARM_MONTH / HOURS_PER_MONTH))
    return lines


def total(lines: list[CostLine]) -> float:
    return sum(line.hourly for line in lines)


def render(lines: list[CostLine], region: str = PRICES_REGION) -> list[str]:
    """The estimate as a small text table, with its basis stated (and that ``region``'s
    prices differ when it is not the table's)."""
    rows = [f"  {'item':<58} {'qty':>5} {'USD/hour':>9}"]
    rows += [f"  {line.item:<58} {line.quantity:>5g} {line.hourly:>9.4f}" for line in lines]
    hourly = total(lines)
    rows.append(f"  {'total (estimate)':<58} {'':>5} {hourly:>9.4f}"
                f"  (~{hourly * 24:.2f} USD/day)")
    rows.append(f"  list prices, {PRICES_REGION}, on-demand, checked {PRICES_CHECKED}; "
                "data transfer, taxes and discounts not counted; your bill is the truth "
                "(sources: cloud/aws/real/costs.py)")
    if region != PRICES_REGION:
        rows.append(f"  {region} is priced differently (often 5-30 % more): see the sources")
    return rows


def so_far(hourly: float, hours: float) -> float:
    """Cost so far: hours since creation times the hourly estimate (ALB/EC2 bill per started
    hour or second; this is an estimate)."""
    return max(0.0, hours) * hourly
