"""Deploy steps: plain boto3 calls that would also be valid against real AWS."""
