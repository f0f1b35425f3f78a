"""The guided walkthrough: the case study's parts as steps, and the learner's progress."""
