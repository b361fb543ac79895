"""The command lines that build, package and benchmark archives.

Each module's ``main`` is installed from the wheel as a console script named after it, and
``scripts/<module>.py`` of a checkout is a thin wrapper around it (same arguments):

    torchserve-nlp-download-transformer-models   scripts/download_transformer_models.py
    torchserve-nlp-archive-sequence-classifier   scripts/archive_sequence_classifier.py
    torchserve-nlp-archive-question-answering    scripts/archive_question_answering.py
    torchserve-nlp-archive-token-classifier      scripts/archive_token_classifier.py
    torchserve-nlp-archive-scriptable-tokenizer  scripts/archive_scriptable_tokenizer.py
    torchserve-nlp-build-embeddingbag-archive    scripts/build_embeddingbag_archive.py
    torchserve-nlp-package-model                 scripts/package_model.py
    torchserve-nlp-bench                         scripts/bench.py
    torchserve-nlp-wait-until-ready              scripts/wait_until_ready.py

Output folders default to the current directory (``model_store/``, ``build/``); the handlers
and artifacts an archive takes come from the installed package (torchserve_nlp.resources).
"""
