# SageMaker-compatible image serving ONE text classifier with TorchServe on port 8080
# (/ping, /invocations). Configuration is by environment variables: see docs/sagemaker.md.
#
#   docker build -t torchserve-nlp-sagemaker .
#   docker run --rm -p 8080:8080 -e LOCAL=true -e HUB_MODEL_NAME=/opt/ml/model \
#       -v "$PWD/build/sentiment/pretrained:/opt/ml/model:ro" torchserve-nlp-sagemaker
FROM python:3.11-slim

# TorchServe's frontend runs on Java 17. tini is PID 1: it forwards SIGTERM to the entrypoint
# and reaps the worker processes TorchServe leaves behind when it stops.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/torchserve-nlp

# torch as pinned in pyproject.toml, from the CPU wheel index (the default index's wheel
# pulls in CUDA). Its own layer, so code changes do not reinstall it.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# Only what serving needs (no .venv, build/ or model_store/ from a developer checkout).
COPY pyproject.toml config.properties ./
COPY torchserve_nlp ./torchserve_nlp
COPY handlers ./handlers
COPY artifacts ./artifacts
COPY scripts ./scripts
# Editable, so the archives are built from this checkout's handlers/ and artifacts/.
RUN pip install --no-cache-dir -e .

RUN useradd --create-home --uid 1000 model-server
USER model-server

# SageMaker sends traffic to port 8080 of the container: the inference API must listen on
# every interface here. Management, metrics and gRPC stay on 127.0.0.1.
ENV BIND_ALL=true \
    PATH=/opt/torchserve-nlp/scripts:$PATH
EXPOSE 8080

# SageMaker starts the container as `docker run IMAGE serve`; scripts/ is on PATH.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["serve"]
