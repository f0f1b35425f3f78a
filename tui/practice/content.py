"""The quiz, the interview question and the drills (facts from ecs-facts.md, cited by §)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tui.practice.drills import Action, EnsureHosts, PinScaling, Post, RestoreScaling


@dataclass(frozen=True)
class Question:
    text: str
    options: tuple[str, ...]
    answer: int  # index into options
    why: str  # the explanation, with its source


@dataclass(frozen=True)
class Drill:
    id: str
    title: str
    brief: str  # what the learner is told (not the fault)
    setup: tuple[Action, ...]  # what plants the fault (tui.practice.drills)
    question: Question
    cleanup: tuple[Action, ...] = field(default=())


QUIZ: list[Question] = [
    Question("How many tasks of 256 CPU units / 512 MiB fit on one t3.medium (bridge mode, "
             "dynamic host ports)?",
             ("2, as the case study says", "4", "about 7: memory runs out first",
              "8: 2048 CPU units / 256"), 2,
             "t3.medium has 2 vCPU = 2048 CPU units, and registers a little under 4096 MiB: "
             "by memory ≈ 7 tasks, by CPU 8 — memory binds (ecs-facts.md §1, §11a)."),
    Question("You raise the desired count to 20; the hosts are full and the cluster has no "
             "capacity provider. What happens?",
             ("ECS launches more EC2 instances", "the extra tasks are not placed: \"unable to "
              "place a task because no container instance met all of its requirements\"",
              "ECS lowers the desired count to what fits", "the load balancer queues requests"),
             1, "Desired count only tells the scheduler how many tasks to run; instances are "
                "added only by an Auto Scaling group capacity provider with managed scaling "
                "(ecs-facts.md §3, §11b)."),
    Question("Which routing algorithm does an ALB target group use unless you change it?",
             ("least outstanding requests", "round robin", "random", "least connections"), 1,
             "round_robin is the default; least_outstanding_requests and weighted_random are "
             "opt-in per target group (ecs-facts.md §6, §11d)."),
    Question("During a traffic spike, what raises the service's desired count?",
             ("the ECS service scheduler", "Application Auto Scaling (target tracking)",
              "the load balancer", "the ECS agent on each host"), 1,
             "ECS never changes desired count itself: a target-tracking policy's alarm needs 3 "
             "consecutive 1-minute datapoints above target (ecs-facts.md §7, §11e)."),
    Question("A task crashes and the service replaces it. Which image does the new task run?",
             ("a fresh pull of whatever the tag points to now",
              "the image digest the deployment resolved", "none until you redeploy",
              "the newest image in ECR"), 1,
             "ECS pins the deployment to the digest; on EC2 the host's cached layers are "
             "reused (ecs-facts.md §5, §11c)."),
    Question("Fraud is 0.84% of transactions. How accurate is a model that flags nothing?",
             ("0%", "50%", "95%", "about 99.2%"), 3,
             "Accuracy is not recall: it catches no fraud at all. The handbook uses AUC ROC, "
             "Average Precision and Card Precision@100 (ecs-facts.md §9, §11f)."),
    Question("A container crashes under load. What do users see?",
             ("nothing: zero downtime", "requests in flight on it fail (502) and capacity dips "
              "until the replacement is healthy", "a full outage until ECS restarts it",
              "only slower responses"), 1,
             "In-flight requests fail and the dead target can get requests until it is "
             "deregistered or marked unhealthy (ecs-facts.md §6, §11g)."),
]

INTERVIEW_QUESTION = "Explain your deployment architecture for the fraud detection model."

MODEL_ANSWER = (
    "I package the model service — Python, the model, its inference runtime, gunicorn — as a "
    "Docker image and push it to ECR; the deployment pins its digest. A task definition asks "
    "for 256 CPU units and 512 MiB per task and maps the container port. The ECS service keeps "
    "a desired count of tasks on the cluster's EC2 instances: the scheduler places them by "
    "CPU, memory and ports (a t3.medium holds about 7 such tasks, memory-bound — not 2), and "
    "the instances come from an Auto Scaling group capacity provider with managed scaling, or "
    "I launch them; ECS does not buy servers on its own. The service registers each task in "
    "an ALB target group; the ALB routes round robin by default (least outstanding requests if "
    "I opt in) to healthy targets only. If a task dies, the service scheduler starts a "
    "replacement from the same image; requests in flight on it fail, so clients retry and I "
    "keep enough tasks that losing one is absorbed. For spikes, Application Auto Scaling target "
    "tracking (e.g. ALBRequestCountPerTarget) raises the desired count after a few minutes of "
    "datapoints above target, and the capacity provider adds instances when tasks cannot be "
    "placed; scale-in is slower and drains targets first. The model is judged by precision and "
    "recall on fraud (Average Precision, Card Precision@100), not accuracy.")

RUBRIC = (
    "Image in ECR, pinned by digest; the task definition's CPU/memory/port",
    "Tasks per instance computed from registered resources (≈7, memory-bound), not 2",
    "Who adds instances: a capacity provider with managed scaling (or you), not the service",
    "ALB: round robin by default, health checks, target group registration by the service",
    "Crash: replacement task from the same image; in-flight requests fail — no 'zero "
    "downtime' claim",
    "Scaling: Application Auto Scaling target tracking changes desired count; timings "
    "(datapoints, cooldowns); scale-in drains",
    "Model quality: recall/precision, AP, CP@100 — not '95% accuracy'",
)

DRILLS: list[Drill] = [
    Drill("capacity", "Stuck tasks",
          "The fraud service was asked to grow. Look at the dashboard (d): hosts, tasks and "
          "events. Then come back (p) and diagnose.",
          (EnsureHosts(2), PinScaling(16), Post("/v1/scale", {"desired": 16})),
          Question("Why are some tasks not running?",
                   ("the image cannot be pulled from ECR", "no host has the memory left for "
                    "another task, and nothing adds hosts", "the load balancer marks them "
                    "unhealthy", "the tasks crash at start"), 1,
                   "Two t3.medium hosts hold about 7 tasks each (memory-bound): ECS reports "
                   "\"unable to place a task … insufficient memory\" and the tasks wait; a "
                   "capacity provider with managed scaling would add instances "
                   "(ecs-facts.md §3, §11b). The drill pinned auto scaling to 16–16 so it "
                   "could not pull the count back to MaxCapacity 8; cleanup: the bounds as "
                   "they were, desired count back to 4."),
          (RestoreScaling(), Post("/v1/scale", {"desired": 4}))),
    Drill("bad-deploy", "Bad release",
          "Someone shipped a new revision. Watch the tasks and the events on the dashboard (d), "
          "then come back (p).",
          (Post("/v1/bad-deployment", {}),),
          Question("What is going on?",
                   ("a host was terminated", "the new revision's containers exit at boot; the "
                    "old tasks keep serving and the circuit breaker rolls back",
                    "traffic is too high", "the load balancer's algorithm changed"), 1,
                   "New tasks stop before RUNNING; at the threshold the deployment circuit "
                   "breaker marks the deployment FAILED and rolls back to the previous "
                   "revision (ecs-facts.md §4).")),
    Drill("host", "Tasks gone",
          "Something happened to the cluster. Look at the hosts and the events (d), then come "
          "back (p).",
          (EnsureHosts(2), Post("/v1/kill-host", {})),
          Question("Why did several tasks stop together?",
                   ("their host (EC2 instance) was terminated; the scheduler placed "
                    "replacements on the hosts left", "an out-of-memory kill",
                    "a bad deployment", "scale-in by auto scaling"), 0,
                   "Every task on a terminated instance stops with it; the replacements go "
                   "where they fit — without an Auto Scaling group, the cluster stays one "
                   "host smaller (ecs-facts.md §3, §11b).")),
]
