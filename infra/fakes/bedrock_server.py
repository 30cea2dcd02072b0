"""A local fake of Amazon Bedrock's control plane and runtime, for the local stack and the tests.

A small Flask app that speaks the REST-JSON wire format botocore's service models describe (``bedrock`` and
``bedrock-runtime``), for what the bot calls and no more:

- model customization jobs: create, get, list, stop. A job reads its training file from S3 (the embedded AWS),
  checks the lines against the ``bedrock-conversation-2024`` format and the model's example bounds, and moves one
  stage per ``GetModelCustomizationJob`` (validation, data processing, training, Completed). On completion it
  writes ``step_wise_training_metrics.csv`` and ``validation_metrics.csv`` under its output prefix, as the
  service does, and names its custom model.
- custom model deployments: create, get, list, delete. A deployment is ``Creating`` and then ``Active`` (or
  ``Failed`` when told to fail), and only base models that Bedrock serves on demand can be deployed.
- Converse: base Nova models echo the prompt; an active deployment answers with the answer of the training
  example whose prompt shares most words with the question (so a demo shows the training took).

The region comes from the request's SigV4 credential scope, as it does for the real endpoint: a call from a
region where Bedrock does not tune the model is refused. Errors carry ``x-amzn-ErrorType`` and a ``message``.

    with FakeBedrock(s3_client=boto3.client("s3")) as fake:
        bedrock = boto3.client("bedrock", endpoint_url=fake.url)
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from infra.fakes.loopback import LoopbackServer

ACCOUNT = "123456789012"
SCHEMA_VERSION = "bedrock-conversation-2024"
# Written from AWS's Bedrock user guide: where each Nova model is tuned, where its custom models can be
# deployed on demand, and the sample bounds of AWS's dataset validator. The fake keeps its own table so that
# the bot's catalog is checked against it, not against itself.
TUNABLE: dict[str, dict[str, Any]] = {
    "amazon.nova-micro-v1:0:128k": {"regions": ("us-east-1",), "on_demand": ("us-east-1", "us-west-2"),
                                    "bounds": (8, 20000), "runtime": "amazon.nova-micro-v1:0"},
    "amazon.nova-lite-v1:0:300k": {"regions": ("us-east-1",), "on_demand": ("us-east-1", "us-west-2"),
                                   "bounds": (8, 20000), "runtime": "amazon.nova-lite-v1:0"},
    "amazon.nova-pro-v1:0:300k": {"regions": ("us-east-1",), "on_demand": ("us-east-1", "us-west-2"),
                                  "bounds": (8, 20000), "runtime": "amazon.nova-pro-v1:0"},
    "amazon.nova-2-lite-v1:0:256k": {"regions": ("us-east-1",), "on_demand": (), "bounds": (200, 20000),
                                     "runtime": "us.amazon.nova-2-lite-v1:0"},
}
BASE_RUNTIME_IDS = frozenset(m["runtime"] for m in TUNABLE.values())
HYPERPARAMETERS = {"epochCount": (1, 5, int), "learningRate": (1e-6, 1e-4, float),
                   "learningRateWarmupSteps": (0, 100, int)}
RESERVED = ("System:", "User:", "Bot:", "Assistant:", "[EOS]", "<image>", "<video>")
JOB_STAGES = ("validationDetails", "dataProcessingDetails", "trainingDetails")
_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_WORD = re.compile(r"\w+")


class FakeError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


@dataclass
class Job:
    data: dict[str, Any]
    region: str
    stage: int = 0  # index into JOB_STAGES; len(JOB_STAGES) = finished
    problems: list[str] = field(default_factory=list)
    training: list[tuple[str, str]] = field(default_factory=list)  # (last user text, assistant answer)


@dataclass
class Deployment:
    data: dict[str, Any]
    job: Job
    polls_left: int
    fail_with: str = ""


class FakeBedrock:
    def __init__(self, s3_client: Any = None, *, host: str = "127.0.0.1", port: int = 0, deploy_polls: int = 1,
                 s3_factory: Any = None) -> None:
        self._s3 = s3_client
        self._s3_factory = s3_factory
        self.deploy_polls = deploy_polls
        self.jobs: dict[str, Job] = {}  # by job name
        self.deployments: dict[str, Deployment] = {}  # by ARN
        self.calls: list[tuple[str, str]] = []  # (operation, region)
        self.converse_calls: list[dict[str, Any]] = []
        self._fail_next_deployment = ""
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._server = LoopbackServer("fake-bedrock", host=host, port=port)
        self.app = self._build_app()

    # --- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> FakeBedrock:
        self._server.start(self.app)
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeBedrock:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    # --- test controls --------------------------------------------------------------------------------------

    def fail_next_deployment(self, message: str = "Deployment failed (simulated).") -> None:
        """The next deployment created ends ``Failed`` with this message instead of ``Active``."""
        self._fail_next_deployment = message

    def finish_job(self, name: str) -> None:
        """Run a job to its end now (tests that do not want to poll)."""
        with self._lock:
            job = self.jobs[name]
            while job.data["status"] == "InProgress":
                self._advance(job)

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = self._s3_factory() if self._s3_factory else __import__("boto3").client("s3")
        return self._s3

    # --- the app --------------------------------------------------------------------------------------------

    def _build_app(self) -> Any:
        from flask import Flask, Response, request

        app = Flask("fake_bedrock")

        def reply(status: int, body: dict[str, Any]) -> Response:
            return Response(json.dumps(body), status=status, content_type="application/json")

        @app.errorhandler(FakeError)
        def on_error(err: FakeError) -> Response:
            response = reply(err.status, {"message": err.message})
            response.headers["x-amzn-ErrorType"] = f"{err.code}:http://internal.amazon.com/coral/com.amazon.bedrock/"
            return response

        def region() -> str:
            found = _REGION.search(request.headers.get("Authorization", ""))
            if not found:
                raise FakeError(403, "AccessDeniedException", "Missing Authentication Token")
            return found.group(1)

        def body() -> dict[str, Any]:
            try:
                data = json.loads(request.get_data() or b"{}")
            except json.JSONDecodeError:
                raise FakeError(400, "ValidationException", "Request body is not valid JSON") from None
            if not isinstance(data, dict):
                raise FakeError(400, "ValidationException", "Request body must be a JSON object")
            return data

        @app.post("/model-customization-jobs")
        def create_job() -> Response:
            return reply(201, self.create_job(body(), region()))

        @app.get("/model-customization-jobs")
        def list_jobs() -> Response:
            region()
            contains = request.args.get("nameContains", "")
            with self._lock:
                found = [self._summary(j) for j in self.jobs.values() if contains in j.data["jobName"]]
            return reply(200, {"modelCustomizationJobSummaries": found})

        @app.get("/model-customization-jobs/<path:ident>")
        def get_job(ident: str) -> Response:
            region()
            with self._lock:
                job = self._job(ident)
                self._advance(job)
                return reply(200, dict(job.data))

        @app.post("/model-customization-jobs/<path:ident>/stop")
        def stop_job(ident: str) -> Response:
            region()
            with self._lock:
                job = self._job(ident)
                if job.data["status"] != "InProgress":
                    raise FakeError(400, "ValidationException", f"Job is {job.data['status']}, not in progress")
                job.data.update(status="Stopped", endTime=_now(), lastModifiedTime=_now())
            return reply(200, {})

        @app.post("/model-customization/custom-model-deployments")
        def create_deployment() -> Response:
            return reply(202, self.create_deployment(body(), region()))

        @app.get("/model-customization/custom-model-deployments")
        def list_deployments() -> Response:
            region()
            with self._lock:
                found = [{k: d.data[k] for k in ("customModelDeploymentArn", "customModelDeploymentName",
                                                  "modelArn", "createdAt", "status")}
                         for d in self.deployments.values()]
            return reply(200, {"modelDeploymentSummaries": found})

        @app.get("/model-customization/custom-model-deployments/<path:ident>")
        def get_deployment(ident: str) -> Response:
            region()
            with self._lock:
                deployment = self._deployment(ident)
                if deployment.data["status"] == "Creating":
                    deployment.polls_left -= 1
                    if deployment.polls_left < 0:
                        if deployment.fail_with:
                            deployment.data.update(status="Failed", failureMessage=deployment.fail_with)
                        else:
                            deployment.data["status"] = "Active"
                        deployment.data["lastUpdatedAt"] = _now()
                data = {k: v for k, v in deployment.data.items() if k != "customModelDeploymentName"}
                return reply(200, {**data, "modelDeploymentName": deployment.data["customModelDeploymentName"]})

        @app.delete("/model-customization/custom-model-deployments/<path:ident>")
        def delete_deployment(ident: str) -> Response:
            region()
            with self._lock:
                deployment = self._deployment(ident)
                del self.deployments[deployment.data["customModelDeploymentArn"]]
            return reply(200, {})

        @app.post("/model/<path:model_id>/converse")
        def converse(model_id: str) -> Response:
            return reply(200, self.converse(unquote(model_id), body(), region()))

        @app.errorhandler(404)
        def unknown(_: Any) -> Response:
            return on_error(FakeError(404, "UnknownOperationException", f"No such operation: {request.path}"))

        return app

    # --- operations -----------------------------------------------------------------------------------------

    def create_job(self, data: dict[str, Any], region: str) -> dict[str, Any]:
        self.calls.append(("CreateModelCustomizationJob", region))
        for key in ("jobName", "customModelName", "roleArn", "baseModelIdentifier", "trainingDataConfig",
                    "outputDataConfig"):
            if not data.get(key):
                raise FakeError(400, "ValidationException", f"{key} is required")
        base = str(data["baseModelIdentifier"]).rsplit("/", 1)[-1]
        model = TUNABLE.get(base)
        if model is None:
            raise FakeError(400, "ValidationException", f"The provided model identifier {base} is not supported "
                                                        "for customization.")
        if region not in model["regions"]:
            raise FakeError(400, "ValidationException", f"Fine-tuning {base} is not supported in {region}.")
        if not re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+", str(data["roleArn"])):
            raise FakeError(400, "ValidationException", f"roleArn {data['roleArn']!r} is not an IAM role ARN")
        if data.get("customizationType", "FINE_TUNING") != "FINE_TUNING":
            raise FakeError(400, "ValidationException", "Only FINE_TUNING is supported for this model")
        for name, value in (data.get("hyperParameters") or {}).items():
            if name not in HYPERPARAMETERS:
                raise FakeError(400, "ValidationException", f"Hyperparameter {name} is not supported for {base}")
            low, high, kind = HYPERPARAMETERS[name]
            try:
                number = kind(value)
            except ValueError:
                raise FakeError(400, "ValidationException", f"Hyperparameter {name}: {value!r}") from None
            if not low <= number <= high:
                raise FakeError(400, "ValidationException", f"Hyperparameter {name} must be in [{low}, {high}]")
        with self._lock:
            token = data.get("clientRequestToken")
            for job in self.jobs.values():
                if token and job.data.get("clientRequestToken") == token:
                    return {"jobArn": job.data["jobArn"]}
            if data["jobName"] in self.jobs:
                raise FakeError(409, "ConflictException", f"A job named {data['jobName']} already exists")
            job_id = hashlib.sha256(f"{data['jobName']}{next(self._ids)}".encode()).hexdigest()[:12]
            now = _now()
            job = Job(region=region, data={
                "jobArn": f"arn:aws:bedrock:{region}:{ACCOUNT}:model-customization-job/{base}/{job_id}",
                "jobName": data["jobName"],
                "outputModelName": data["customModelName"],
                "clientRequestToken": token or "",
                "roleArn": data["roleArn"],
                "status": "InProgress",
                "statusDetails": {stage: {"status": "NotStarted", "lastModifiedTime": now} for stage in JOB_STAGES},
                "creationTime": now,
                "lastModifiedTime": now,
                "baseModelArn": f"arn:aws:bedrock:{region}::foundation-model/{base}",
                "hyperParameters": dict(data.get("hyperParameters") or {}),
                "trainingDataConfig": data["trainingDataConfig"],
                "validationDataConfig": data.get("validationDataConfig") or {"validators": []},
                "outputDataConfig": data["outputDataConfig"],
                "customizationType": "FINE_TUNING",
            })
            job.data["statusDetails"]["validationDetails"]["status"] = "InProgress"
            self.jobs[data["jobName"]] = job
            self._read_data(job, model)
        return {"jobArn": job.data["jobArn"]}

    def _read_data(self, job: Job, model: dict[str, Any]) -> None:
        """Check the training file as the service's validation stage does; problems fail the job there."""
        try:
            lines = self._s3_text(job.data["trainingDataConfig"]["s3Uri"]).splitlines()
        except Exception as exc:  # the role cannot read it, or it is not there
            job.problems.append(f"Could not read the training data: {exc}")
            return
        lines = [line for line in lines if line.strip()]
        low, high = model["bounds"]
        if not low <= len(lines) <= high:
            job.problems.append(f"The training data has {len(lines)} samples; {low} to {high} are accepted.")
        for number, line in enumerate(lines, start=1):
            problem, pair = check_line(line)
            if problem:
                job.problems.append(f"Line {number}: {problem}")
            elif pair:
                job.training.append(pair)

    def _s3_text(self, uri: str) -> str:
        parts = urlsplit(uri)
        return str(self.s3.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"].read().decode())

    def _advance(self, job: Job) -> None:
        """One stage per look: validation, data processing, training, then the end."""
        if job.data["status"] != "InProgress":
            return
        now = _now()
        details = job.data["statusDetails"]
        details[JOB_STAGES[job.stage]].update(status="Completed", lastModifiedTime=now)
        if job.stage == 0 and job.problems:
            details[JOB_STAGES[0]]["status"] = "Failed"
            job.data.update(status="Failed", failureMessage="; ".join(job.problems)[:1000], endTime=now)
            return
        job.stage += 1
        job.data["lastModifiedTime"] = now
        if job.stage < len(JOB_STAGES):
            details[JOB_STAGES[job.stage]].update(status="InProgress", lastModifiedTime=now)
            return
        custom_id = job.data["jobArn"].rsplit("/", 1)[-1]
        base = job.data["baseModelArn"].rsplit("/", 1)[-1]
        region = job.region
        train_loss, valid_loss = self._write_metrics(job)
        job.data.update(status="Completed", endTime=now,
                        outputModelArn=f"arn:aws:bedrock:{region}:{ACCOUNT}:custom-model/{base}/{custom_id}",
                        trainingMetrics={"trainingLoss": train_loss})
        if valid_loss is not None:
            job.data["validationMetrics"] = [{"validationLoss": valid_loss}]

    def _write_metrics(self, job: Job) -> tuple[float, float | None]:
        """The CSVs a finished job leaves under ``<output>/model-customization-job-<id>/``: loss falling by
        step, validation loss once per epoch."""
        epochs = int((job.data["hyperParameters"] or {}).get("epochCount", 2))
        steps = max(2, min(60, len(job.training) * epochs))
        per_epoch = max(1, steps // epochs)
        train = io.StringIO()
        writer = csv.writer(train)
        writer.writerow(["step_number", "epoch_number", "training_loss", "perplexity"])
        loss = 0.0
        for step in range(steps):
            loss = round(2.2 * 0.93 ** step + 0.15, 4)
            writer.writerow([step, step // per_epoch, loss, round(2.718281828 ** loss, 4)])
        valid = io.StringIO()
        writer = csv.writer(valid)
        writer.writerow(["step_number", "epoch_number", "validation_loss", "perplexity"])
        valid_loss = None
        if job.data["validationDataConfig"].get("validators"):
            for epoch in range(epochs):
                step = min(steps - 1, (epoch + 1) * per_epoch - 1)
                valid_loss = round(2.2 * 0.93 ** step + 0.3, 4)
                writer.writerow([step, epoch, valid_loss, round(2.718281828 ** valid_loss, 4)])
        parts = urlsplit(job.data["outputDataConfig"]["s3Uri"])
        prefix = parts.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        folder = f"{prefix}model-customization-job-{job.data['jobArn'].rsplit('/', 1)[-1]}/"
        try:
            self.s3.put_object(Bucket=parts.netloc, Key=folder + "training_artifacts/step_wise_training_metrics.csv",
                               Body=train.getvalue().encode())
            if valid_loss is not None:
                self.s3.put_object(Bucket=parts.netloc, Body=valid.getvalue().encode(),
                                   Key=folder + "validation_artifacts/post_fine_tuning_validation/validation/"
                                                "validation_metrics.csv")
        except Exception as exc:  # the service would fail the job; the fake keeps going without files
            logging.getLogger(__name__).warning("fake Bedrock could not write metrics: %s", exc)
        return loss, valid_loss

    def create_deployment(self, data: dict[str, Any], region: str) -> dict[str, Any]:
        self.calls.append(("CreateCustomModelDeployment", region))
        name, model_arn = data.get("modelDeploymentName"), data.get("modelArn")
        if not name or not model_arn:
            raise FakeError(400, "ValidationException", "modelDeploymentName and modelArn are required")
        with self._lock:
            token = data.get("clientRequestToken")
            for existing in self.deployments.values():
                if token and existing.data.get("clientRequestToken") == token:
                    return {"customModelDeploymentArn": existing.data["customModelDeploymentArn"]}
                if existing.data["customModelDeploymentName"] == name:
                    raise FakeError(409, "ConflictException", f"A deployment named {name} already exists")
            job = next((j for j in self.jobs.values() if j.data.get("outputModelArn") == model_arn), None)
            if job is None:
                raise FakeError(404, "ResourceNotFoundException", f"Custom model {model_arn} not found")
            base = job.data["baseModelArn"].rsplit("/", 1)[-1]
            if region not in TUNABLE[base]["on_demand"]:
                raise FakeError(400, "ValidationException",
                                f"On-demand deployment of custom models based on {base} is not supported in "
                                f"{region}. Use Provisioned Throughput.")
            deployment_id = hashlib.sha256(f"{name}{next(self._ids)}".encode()).hexdigest()[:12]
            arn = f"arn:aws:bedrock:{region}:{ACCOUNT}:custom-model-deployment/{deployment_id}"
            self.deployments[arn] = Deployment(
                data={"customModelDeploymentArn": arn, "customModelDeploymentName": name, "modelArn": model_arn,
                      "createdAt": _now(), "status": "Creating", "clientRequestToken": token or "",
                      "description": str(data.get("description") or "")},
                job=job, polls_left=self.deploy_polls, fail_with=self._fail_next_deployment)
            self._fail_next_deployment = ""
        return {"customModelDeploymentArn": arn}

    def converse(self, model_id: str, data: dict[str, Any], region: str) -> dict[str, Any]:
        self.calls.append(("Converse", region))
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages or messages[-1].get("role") != "user":
            raise FakeError(400, "ValidationException", "messages must end with a user turn")
        for i, message in enumerate(messages):
            if message.get("role") not in ("user", "assistant"):
                raise FakeError(400, "ValidationException", f"messages[{i}].role must be user or assistant")
            if i and message.get("role") == messages[i - 1].get("role"):
                raise FakeError(400, "ValidationException",
                                "A conversation must alternate between user and assistant roles.")
        prompt = " ".join(block.get("text", "") for block in messages[-1].get("content") or [])
        with self._lock:
            self.converse_calls.append({"modelId": model_id, "prompt": prompt})
            deployment = self.deployments.get(model_id)
            if deployment is not None:
                if deployment.data["status"] != "Active":
                    raise FakeError(400, "ValidationException",
                                    f"The deployment {model_id} is {deployment.data['status']}, not Active.")
                answer = nearest_answer(deployment.job.training, prompt) or f"(simulated {model_id}) {prompt}"
            elif model_id in BASE_RUNTIME_IDS:
                answer = f"(simulated {model_id}) You said: {prompt}"
            elif ":custom-model/" in model_id:
                raise FakeError(400, "ValidationException", "Invocation of a custom model needs a deployment or "
                                                            "provisioned throughput: use its ARN as modelId.")
            else:
                raise FakeError(400, "ValidationException", "The provided model identifier is invalid.")
        words_in, words_out = len(prompt.split()), len(answer.split())
        return {"output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": words_in, "outputTokens": words_out, "totalTokens": words_in + words_out},
                "metrics": {"latencyMs": 1}}

    # --- look-ups -------------------------------------------------------------------------------------------

    def _job(self, ident: str) -> Job:
        job = self.jobs.get(ident) or next((j for j in self.jobs.values() if j.data["jobArn"] == ident), None)
        if job is None:
            raise FakeError(404, "ResourceNotFoundException", f"Job {ident} not found")
        return job

    def _deployment(self, ident: str) -> Deployment:
        found = self.deployments.get(ident) or next(
            (d for d in self.deployments.values() if d.data["customModelDeploymentName"] == ident), None)
        if found is None:
            raise FakeError(404, "ResourceNotFoundException", f"Deployment {ident} not found")
        return found

    @staticmethod
    def _summary(job: Job) -> dict[str, Any]:
        keys = ("jobArn", "jobName", "status", "creationTime", "baseModelArn", "customizationType")
        return {k: job.data[k] for k in keys if k in job.data}


def check_line(line: str) -> tuple[str, tuple[str, str] | None]:
    """(a problem, or "" and the line's last question and answer) for one ``bedrock-conversation-2024`` line."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return "not valid JSON", None
    if not isinstance(record, dict) or record.get("schemaVersion") != SCHEMA_VERSION:
        return f"schemaVersion must be {SCHEMA_VERSION}", None
    system = record.get("system", [])
    if not isinstance(system, list) or any(not isinstance(b, dict) or "text" not in b for b in system):
        return "system must be a list of text blocks", None
    messages = record.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        return "messages must hold a user turn and an assistant turn", None
    texts = [b.get("text", "") for b in system]
    for i, message in enumerate(messages):
        expected = "user" if i % 2 == 0 else "assistant"
        if not isinstance(message, dict) or message.get("role") != expected:
            return f"messages[{i}].role must be {expected} (turns alternate, starting with user)", None
        content = message.get("content")
        if not isinstance(content, list) or not content or any(
                not isinstance(b, dict) or not isinstance(b.get("text"), str) for b in content):
            return f"messages[{i}].content must be a list of text blocks", None
        texts += [b["text"] for b in content]
    if messages[-1]["role"] != "assistant":
        return "the last turn must be the assistant's", None
    for text in texts:
        for word in RESERVED:
            if word in text:
                return f"contains the reserved keyword {word!r}", None
    question = " ".join(b["text"] for b in messages[-2]["content"])
    answer = " ".join(b["text"] for b in messages[-1]["content"])
    return "", (question, answer)


def nearest_answer(training: list[tuple[str, str]], prompt: str) -> str | None:
    """The answer of the training example whose question shares most words with ``prompt`` (ties: the first)."""
    asked = _words(prompt)
    best, best_overlap = None, 0
    for question, answer in training:
        overlap = len(asked & _words(question))
        if overlap > best_overlap:
            best, best_overlap = answer, overlap
    return best


def main() -> None:  # pragma: no cover - manual use: python -m infra.fakes.bedrock_server
    import time

    with FakeBedrock() as fake:
        print(f"fake Bedrock listening at {fake.url}", flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":  # pragma: no cover
    main()
