"""Shows a Keras model's constructor arguments as its signature on the API page.

``keras.Model`` defines ``__new__(cls, *args, **kwargs)``, and Sphinx's autodoc reads a
class's signature from ``__new__`` before ``__init__`` whatever the class hierarchy, so
every model was documented as ``VAE(*args, **kwargs)``. Python's own
``inspect.signature`` instead takes whichever of the two comes first in the method
resolution order, i.e. the model's own ``__init__``. This extension does the same for a
class whose autodoc signature is that pass-through: it replaces it with the signature of
the nearest ``__init__`` when that comes before any ``__new__`` in the MRO, formatted with
the same options as autodoc (``autodoc_typehints``, ``autodoc_typehints_format``,
``autodoc_type_aliases``, and ``autodoc_preserve_defaults`` through the
``autodoc-before-process-signature`` event). A ``typing.Protocol``, which is never
instantiated and whose ``__init__`` is itself a pass-through, gets no signature.

Registered in ``_config.yml`` under ``sphinx: local_extensions:``.
"""

from __future__ import annotations

import inspect
from typing import Any

from sphinx.application import Sphinx
from sphinx.util.inspect import signature as sphinx_signature
from sphinx.util.inspect import stringify_signature

PASS_THROUGH = "(*args, **kwargs)"


def own_init(cls: type) -> Any | None:
    """The ``__init__`` that Python calls first for ``cls``, if it comes before any ``__new__``."""
    for base in cls.__mro__:
        if "__init__" in vars(base):
            init = vars(base)["__init__"]
            return init if inspect.isfunction(init) else None
        if "__new__" in vars(base):
            return None
    return None


def constructor_signature(
    app: Sphinx,
    what: str,
    name: str,
    obj: Any,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str, str | None] | None:
    """``autodoc-process-signature`` handler: the ``__init__`` signature for a pass-through."""
    if what != "class" or not isinstance(obj, type) or signature != PASS_THROUGH:
        return None
    if getattr(obj, "_is_protocol", False):
        # A typing.Protocol is never instantiated: its pass-through __init__ says nothing.
        return "", None
    init = own_init(obj)
    if init is None:
        return None
    app.emit("autodoc-before-process-signature", init, True)
    try:
        sig = sphinx_signature(
            init, bound_method=True, type_aliases=app.config.autodoc_type_aliases
        )
    except (TypeError, ValueError):
        return None
    text = stringify_signature(
        sig,
        show_annotation=app.config.autodoc_typehints not in ("none", "description"),
        show_return_annotation=False,
        unqualified_typehints=app.config.autodoc_typehints_format == "short",
    )
    return text, return_annotation


def setup(app: Sphinx) -> dict[str, Any]:
    """Sphinx entry point: connects the handler to autodoc."""
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-process-signature", constructor_signature)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
