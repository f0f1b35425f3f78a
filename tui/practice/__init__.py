"""Practice mode: a quiz on the case study's key concepts, its interview question with a model
answer and a rubric, and drills with a hidden fault to diagnose from the dashboard."""
