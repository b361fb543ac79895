"""Render a handler's explanation response as a self-contained HTML page.

    python scripts/explain_html.py response.json -o page.html
    curl ... | python scripts/explain_html.py - -o page.html     # the response from stdin
    python scripts/explain_html.py response.json -o -           # the page on stdout

Each attributed word gets a background colour: green for a positive score, red for a negative
one, its intensity proportional to |score| / max |score| of that explanation. One section per
explanation (one per entity for token classification). ``render_page(response)`` is the same
as a pure function.
"""

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from torchserve_nlp.report.parse import ExplanationError
from torchserve_nlp.report.render import render_page

logger = logging.getLogger(__name__)


DESCRIPTION = """\
Render a handler's explanation response (the JSON from /explanations/<model>)
as one self-contained HTML page: each word coloured green for a positive
attribution and red for a negative one, one section per explanation."""
EPILOG = """\
examples:
  python scripts/explain_html.py response.json -o page.html
  curl ... | python scripts/explain_html.py - -o page.html"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("response", help="the handler's JSON response, or - for stdin")
    parser.add_argument("-o", "--output", required=True,
                        help="where to write the page, or - for stdout")
    return parser.parse_args(argv)


def read_response(source: str) -> object:
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    name = "stdin" if source == "-" else source
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise ExplanationError(f"{name}: not UTF-8 ({error})") from None
    except json.JSONDecodeError as error:
        raise ExplanationError(f"{name}: not valid JSON ({error})") from None


def write_page(page: str, destination: str) -> None:
    data = page.encode("utf-8")
    if destination == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(destination).write_bytes(data)
        logger.info("wrote %s (%d bytes)", destination, len(data))


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    args = parse_args(argv)
    try:
        write_page(render_page(read_response(args.response)), args.output)
    except ExplanationError as error:
        logger.error("%s", error)
        return 1
    except OSError as error:
        logger.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
