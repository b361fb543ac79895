"""Use a self-contained module of ``handlers/`` (one importing no sibling) from build code.

Handler modules sit flat inside archives, so they are not a package of this project; the
training code loads the very same file the archive ships, e.g. QA span decoding for the
held-out evaluation.
"""

import importlib.util
import sys
from types import ModuleType

from torchserve_nlp.archiver import HANDLERS


def load_handler_module(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    path = HANDLERS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load handler module {name!r} from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module
