"""Pilot tests: practice mode — the quiz, the interview's model answer, a drill's fault."""

from __future__ import annotations

import asyncio

from tui_fake import settle, shows

from tui.practice.content import DRILLS, QUIZ, RUBRIC

SIZE = (80, 24)


def body_text(app) -> str:
    return str(app.screen.query_one("#practice-body").render())


def test_quiz_content_is_well_formed() -> None:
    assert len(QUIZ) >= 5
    for q in QUIZ:
        assert 0 <= q.answer < len(q.options) <= 4 and "ecs-facts.md §" in q.why
    for d in DRILLS:
        assert d.setup and 0 <= d.question.answer < len(d.question.options)


def test_quiz_answers_score_and_explain(make_app) -> None:
    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("p")
            await settle(pilot, shows(lambda: body_text(app), "Question 1 of 7"))
            assert "Question 1 of 7" in body_text(app)
            await pilot.press(str(QUIZ[0].answer + 1))
            await settle(pilot, shows(lambda: body_text(app), "1/1 right"))
            assert "right:" in body_text(app) and "1/1 right" in body_text(app)
            await pilot.press("n")
            wrong = (QUIZ[1].answer + 1) % len(QUIZ[1].options)
            await pilot.press(str(wrong + 1))
            await settle(pilot, shows(lambda: body_text(app), "1/2 right"))
            text = body_text(app)
            assert "Question 2 of 7" in text and "not quite:" in text and "1/2 right" in text
    asyncio.run(body())


def test_interview_reveals_model_answer_and_rubric(make_app) -> None:
    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("p", "down")
            await settle(pilot, shows(lambda: body_text(app), "Explain your deployment"))
            assert "Explain your deployment architecture" in body_text(app)
            assert "Rubric" not in body_text(app)
            await pilot.press("m")
            await settle(pilot, shows(lambda: body_text(app), "Rubric"))
            text = body_text(app)
            assert "round robin by default" in text and "Rubric" in text
            assert all(point[:30] in text for point in RUBRIC)
    asyncio.run(body())


class FakeAutoscaling:
    """Application Auto Scaling's three calls the capacity drill makes, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def describe_scalable_targets(self, **kw) -> dict:
        return {"ScalableTargets": [{"ResourceId": kw["ResourceIds"][0], "MinCapacity": 4,
                                     "MaxCapacity": 8}]}

    def register_scalable_target(self, **kw) -> None:
        self.calls.append(("register", kw))

    def deregister_scalable_target(self, **kw) -> None:
        self.calls.append(("deregister", kw))


def test_drill_plants_the_fault_then_cleans_up_after_the_answer(make_app, fake) -> None:
    aas = FakeAutoscaling()

    async def body() -> None:
        app = make_app()
        app.backend.aws = lambda service: aas
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("p", "down", "down")  # the capacity drill
            await settle(pilot, shows(lambda: body_text(app), "Press f"))
            assert "Press f" in body_text(app)
            await pilot.press("f")
            await settle(pilot, lambda: "Why are some tasks not running?" in body_text(app))
            assert fake.posts == [("/v1/scale", {"desired": 16})]
            assert [(c, k["MinCapacity"], k["MaxCapacity"]) for c, k in aas.calls] == [
                ("register", 16, 16)]  # auto scaling may not pull 16 back to 8
            await pilot.press("2")
            await settle(pilot, lambda: len(fake.posts) == 2)
            assert fake.posts[-1] == ("/v1/scale", {"desired": 4})
            assert [(c, k["MinCapacity"], k["MaxCapacity"]) for c, k in aas.calls][-1] == (
                "register", 4, 8)  # the bounds as they were
            assert "insufficient memory" in body_text(app)
    asyncio.run(body())


def test_drill_that_cannot_start_is_a_notification(make_app, fake) -> None:
    fake.failures["/v1/kill-host"] = "the cluster has no hosts"

    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("p", "down", "down", "down", "down", "f")
            await settle(pilot, lambda: app._notifications)
            assert "the cluster has no hosts" in list(app._notifications)[-1].message
            await settle(pilot, shows(lambda: body_text(app), "could not start"))
    asyncio.run(body())


def test_the_quiz_ends_with_a_final_score_then_starts_again(make_app) -> None:
    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("p")
            for q in QUIZ:
                await pilot.press(str(q.answer + 1), "n")
            await settle(pilot, lambda: "Quiz done" in body_text(app))
            assert f"Quiz done: {len(QUIZ)} of {len(QUIZ)} right" in body_text(app)
            await pilot.press("n")
            await settle(pilot, lambda: "Question 1 of 7" in body_text(app))
            assert "0/0 right" in body_text(app)
    asyncio.run(body())
