# The voice worker: python -m voice_worker, for ECS/Fargate or any container host.
# Build from the repository root:  docker build -f infra/voice_worker.Dockerfile -t bot-trainer-voice .
# (make voice-image builds it for the stack's architecture and pushes it to the stack's ECR repository.)
# Python 3.13 as the functions; discord.py and pydub get audioop from audioop-lts, which pip installs with them.
FROM python:3.13-slim

# ffmpeg decodes and encodes every clip; libopus0 is what discord.opus loads; espeak-ng is the offline voice.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg libopus0 espeak-ng \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 voice
WORKDIR /app

COPY voice_worker/requirements.txt ./requirements.txt
RUN pip install --no-cache-dir -r requirements.txt

COPY shared/ shared/
COPY voice_worker/ voice_worker/

USER voice
ENV PYTHONUNBUFFERED=1 VOICE_HEALTH_PORT=8081
EXPOSE 8081
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"VOICE_HEALTH_PORT\", \"8081\")}/healthz', timeout=4)"
# SIGTERM (docker stop, ECS task stop) starts the graceful shutdown: no new requests, leave every channel.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "voice_worker"]
