"""Griffe extension for the docs build: render the reST bits used in this project's docstrings.

The docstrings are read by people in editors as well as on the site, so they keep Sphinx roles
(:class:`Foo`) and ``::`` literal-block markers. mkdocstrings does not interpret either; this
extension turns roles into code spans, ``::`` at the end of a line into ``:`` and ``>>>``
examples into fenced code blocks before the docstrings are parsed. It changes nothing in the
package itself.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|exc|mod|obj|const):`(~?)([^`]+)`")
_LITERAL_MARKER = re.compile(r"(?<=\S)::$", re.MULTILINE)
_DOCTEST_FLAG = re.compile(r"\s*# doctest:.*$")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _fence_doctests(text: str) -> str:
    """Wrap each run of ``>>>`` / ``...`` lines in a ```` ```pycon ```` fence (doctest flags dropped)."""
    out: list[str] = []
    in_block = False
    indent = ""
    for line in text.splitlines():
        stripped = line.lstrip()
        prompt = stripped.startswith((">>> ", "... ")) or stripped in (">>>", "...")
        if prompt and not in_block:
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}```pycon")
            in_block = True
        elif not prompt and in_block:
            out.append(f"{indent}```")
            in_block = False
        out.append(_DOCTEST_FLAG.sub("", line) if prompt else line)
    if in_block:
        out.append(f"{indent}```")
    return "\n".join(out)


def rewrite(text: str) -> str:
    """``:class:`Foo``` -> a code span (``~pkg.Foo`` shows ``Foo``, as in Sphinx); ``Example::`` ->
    ``Example:``; doctest examples -> fenced code."""
    return _fence_doctests(_LITERAL_MARKER.sub(":", _ROLE.sub(_role, text)))


class RstRoles(Extension):
    """Rewrite every docstring once, as soon as griffe has built the object."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        docstring = getattr(obj, "docstring", None)
        if docstring is not None and docstring.value:
            docstring.value = rewrite(docstring.value)
