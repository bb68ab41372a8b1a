# Helpline node image. See docker-compose.yml for a node with its Redis.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HELPLINE_DATA_DIR=/var/lib/helpline \
    HELPLINE_SIP=0.0.0.0:5060

# espeak-ng and sox render IVR prompts to audio files.
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng sox \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --home-dir /var/lib/helpline --shell /usr/sbin/nologin \
        helpline \
    && mkdir -p /var/lib/helpline \
    && chown helpline:helpline /var/lib/helpline

WORKDIR /opt/helpline
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY signaling ./signaling
COPY ivr ./ivr
COPY web ./web
RUN pip install .

USER helpline
WORKDIR /var/lib/helpline
VOLUME ["/var/lib/helpline"]

# HTTP and the signaling WebSocket; SIP.
EXPOSE 8080 5060/udp

CMD ["helpline", "run", "--http", "0.0.0.0:8080"]
