"""Run transformers 4.x's QuestionAnsweringPipeline (gone from transformers 5) as an oracle.

Executed with the Python of a separate venv holding ``transformers==4.57.6``:
    python hf4_qa_oracle.py MODEL_DIR < cases.json > answers.json
Each case is {"question", "context", "kwargs"}; each answer is the pipeline's result, always
as a list.
"""

import json
import sys

from transformers import AutoModelForQuestionAnswering, AutoTokenizer, pipeline


def main() -> None:
    model_dir = sys.argv[1]
    qa = pipeline(
        "question-answering",
        model=AutoModelForQuestionAnswering.from_pretrained(model_dir).eval(),
        tokenizer=AutoTokenizer.from_pretrained(model_dir),
        device=-1,
    )
    results = []
    for case in json.load(sys.stdin):
        answer = qa(question=case["question"], context=case["context"], **case["kwargs"])
        results.append(answer if isinstance(answer, list) else [answer])
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
