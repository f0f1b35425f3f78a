"""The AWS side a learner talks to: the endpoint (moto in-process or LocalStack), the deploy
steps (plain boto3 calls valid against real AWS) and the gate to real AWS."""
