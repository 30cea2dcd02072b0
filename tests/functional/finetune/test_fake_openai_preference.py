"""The fake OpenAI takes a DPO job as the service does, through the real openai client: on a model this account
fine-tuned, with a preference file of at least 10 valid lines, and the method's own settings."""

from __future__ import annotations

import json

import openai
import pytest

MODEL = "gpt-4.1-mini-2025-04-14"


def upload(client, lines) -> str:
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return client.files.create(file=("t.jsonl", body, "text/jsonl"), purpose="fine-tune").id


def chat_line(i: int) -> dict:
    return {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}


def pair_line(i: int) -> dict:
    return {"input": {"messages": [{"role": "user", "content": f"q{i}"}]},
            "preferred_output": [{"role": "assistant", "content": f"good {i}"}],
            "non_preferred_output": [{"role": "assistant", "content": f"bad {i}"}]}


def dpo(beta=0.1) -> dict:
    return {"type": "dpo", "dpo": {"hyperparameters": {"beta": beta, "n_epochs": 2}}}


def finish(client, job_id: str):
    for _ in range(5):
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            return job
    raise AssertionError("the job did not end")


@pytest.fixture
def tuned(openai_client) -> str:
    """A model the account fine-tuned (supervised)."""
    job = openai_client.fine_tuning.jobs.create(model=MODEL, training_file=upload(openai_client, map(chat_line,
                                                                                                      range(10))))
    return finish(openai_client, job.id).fine_tuned_model


def test_dpo_on_a_model_the_account_tuned(openai_client, tuned):
    job = openai_client.fine_tuning.jobs.create(model=tuned, method=dpo(),
                                                training_file=upload(openai_client, map(pair_line, range(10, 20))))
    assert job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.1
    done = finish(openai_client, job.id)
    assert done.status == "succeeded" and done.fine_tuned_model.startswith(f"ft:{MODEL}:")
    # The new model answers with the preferred answer, and still knows what the supervised stage taught.
    answers = [openai_client.chat.completions.create(model=done.fine_tuned_model, messages=[
        {"role": "user", "content": prompt}]).choices[0].message.content for prompt in ("q13", "q3", "q42")]
    assert answers[:2] == ["good 13", "a3"] and "simulated" in answers[2]


@pytest.mark.parametrize("model", ["ft:gpt-4.1-mini-2025-04-14:other-org::abcdefgh", "gpt-9-imaginary"])
def test_a_model_it_does_not_know_is_refused(openai_client, model):
    with pytest.raises(openai.BadRequestError, match="not available for fine-tuning"):
        openai_client.fine_tuning.jobs.create(model=model, method=dpo(),
                                              training_file=upload(openai_client, map(pair_line, range(10))))


@pytest.mark.parametrize("method, error", [
    ({"type": "dpo", "supervised": {"hyperparameters": {"n_epochs": 2}}}, "'supervised' settings given for a 'dpo'"),
    (dpo(beta=3), "method"),  # beta is in (0, 2]
    ({"dpo": {}}, "type"),
])
def test_a_method_of_the_wrong_shape_is_refused(openai_client, tuned, method, error):
    with pytest.raises(openai.BadRequestError, match=error):
        openai_client.fine_tuning.jobs.create(model=tuned, method=method,
                                              training_file=upload(openai_client, map(pair_line, range(10))))


@pytest.mark.parametrize("lines, error", [
    ([pair_line(i) for i in range(9)], "Training file has 9 example(s), but must have at least 10 examples."),
    ([*map(pair_line, range(9)), {"input": {}, "preferred_output": [{"role": "assistant", "content": "x"}],
                                  "non_preferred_output": [{"role": "assistant", "content": "y"}]}],
     "Line 10: input: 'messages' is a required property"),
    ([*map(pair_line, range(9)), {"input": {"messages": [{"role": "user", "content": "q"}]},
                                  "preferred_output": [{"role": "assistant", "content": "x"}]}],
     "Line 10: (body): 'non_preferred_output' is a required property"),
    ([chat_line(i) for i in range(10)], "Line 1: (body): 'input' is a required property"),
])
def test_a_preference_file_the_service_would_refuse_fails_validation(openai_client, tuned, lines, error):
    job = openai_client.fine_tuning.jobs.create(model=tuned, method=dpo(), training_file=upload(openai_client, lines))
    done = finish(openai_client, job.id)
    assert done.status == "failed" and done.error.code == "invalid_training_file" and done.error.message == error
