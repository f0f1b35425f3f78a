#!/bin/bash
# LocalStack "ready" hook (runs inside the LocalStack container once it serves requests).
# Checks that the services FraudLab needs are in the plan, and creates the ECR repository
# the kit pushes to. Idempotent: running it again changes nothing. A service outside the
# plan is reported in one line and skipped; the kit itself then falls back to its embedded
# emulator (cloud/aws/endpoint.py) and says why.
set -u
REPOSITORY="${FRAUDLAB_REPOSITORY:-fraud-detection}"

missing=()
check() {  # check SERVICE CLI-ARGS… : one cheap read call, "not in the plan" on refusal
  local service="$1"; shift
  local out
  if ! out="$(awslocal "$@" 2>&1 >/dev/null)"; then
    case "$out" in
      *"license plan"*|*InternalFailure*) missing+=("$service (not in the license plan)") ;;
      *) missing+=("$service (${out:0:120})") ;;
    esac
  fi
}
check ecs ecs list-clusters
check ecr ecr describe-repositories
check elbv2 elbv2 describe-load-balancers
check application-autoscaling application-autoscaling describe-scalable-targets \
  --service-namespace ecs

if [ "${#missing[@]}" -gt 0 ]; then
  joined=$(printf '%s, ' "${missing[@]}")
  echo "fraudlab: LocalStack lacks ${joined%, }: ECS, ECR, ELBv2 and Application Auto" \
       "Scaling need LocalStack's Base plan; the kit will use its embedded emulator"
  exit 0
fi

if awslocal ecr describe-repositories --repository-names "$REPOSITORY" >/dev/null 2>&1; then
  echo "fraudlab: ECR repository $REPOSITORY already exists"
else
  awslocal ecr create-repository --repository-name "$REPOSITORY" \
    --image-scanning-configuration scanOnPush=false >/dev/null \
    && echo "fraudlab: created ECR repository $REPOSITORY"
fi
echo "fraudlab: LocalStack has ecs, ecr, elbv2 and application-autoscaling: the kit can use it"
