"""Type stub of the umpager package: the compiled layer's names and buffer_of."""
from typing import Any, Optional

from ._umpager import *  # noqa: F401,F403
from ._umpager import Buffer

__version__: str

def buffer_of(a: Any) -> Optional[Buffer]:
    """The Buffer an array over umpager memory is a view of (its base), else None."""
