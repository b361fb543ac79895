"""SageMaker-style serving of ONE text classifier with TorchServe, configured by environment.

    LOCAL=true HUB_MODEL_NAME=build/sentiment/pretrained scripts/serve
    LOCAL=false BUCKET_NAME=my-bucket MODEL_PATH=models/model.tar.gz scripts/serve

One module per step, in order: ``settings`` reads the environment once into a frozen
``ServeSettings`` (every error names its variable); ``model`` finds the model (a local
``save_pretrained`` directory or packaged name through ``model_source``), or ``s3`` fetches
``s3://BUCKET_NAME/MODEL_PATH`` with boto3 and unpacks it safely; ``model`` refuses a model
without a trained sequence-classification head and stages it with its tokenizer; ``archive``
builds ``model.mar`` with ``transformer_archives.archive`` and writes TorchServe's config;
``supervisor`` runs ``torchserve --start --foreground`` through ``torchserve_nlp.serving``
and stops it cleanly on SIGTERM or SIGINT; ``cli`` ties them together. All the checks
happen before TorchServe starts, so a bad configuration exits non-zero with one message.

TorchServe 0.12 itself answers SageMaker's ``GET /ping`` and ``POST /invocations``: an
invocation without a ``model_name`` query parameter goes to the only startup model
(``--models model=model.mar``). See docs/sagemaker.md.
"""
