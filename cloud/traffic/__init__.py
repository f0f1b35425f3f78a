"""Open-loop traffic for the local cloud: rate profiles, Poisson arrivals, the generator.

``profiles`` (steady, Black-Friday spike, ramp; lab-time functions) and ``arrivals`` (Poisson
arrival times by thinning) are pure; ``generator`` sends ``POST /predict`` at those times and
measures latency from the scheduled send time, so a slow service cannot hide its queueing.
"""
