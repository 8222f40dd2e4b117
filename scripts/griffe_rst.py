"""Griffe extension for the documentation site: the reStructuredText markup in diffpool's docstrings,
as Markdown that mkdocstrings renders.

The docstrings are Google style (``Args:``, ``Returns:``, ``Attributes:``) with reST roles and math:

* ``:class:`X```, ``:func:`~a.b.f```, ``:meth:``, ``:attr:``, ``:data:``, ``:mod:`` become code that
  links to the object's entry in the API reference where there is one (an optional cross-reference:
  a private helper named in a docstring stays plain code, without a warning);
* ``:math:`…``` becomes inline math and a ``.. math::`` block display math (pymdownx.arithmatex,
  rendered by MathJax);
* ``#:`` comments above an attribute (Sphinx's convention, used in the source) become its docstring;
* in a ``torch.nn.Module`` (or Lightning module), the attributes that a method assigns
  (``self.norm = ...`` in ``__init__``) without a ``#:`` comment are left out: they are the
  module's submodules and buffers, not its documented interface;
* an argument line that names several arguments (``num_layers, conv: see GNNBlock``) becomes one
  line per argument, as Google style documents each on its own.

Only the text handed to mkdocstrings changes; the source is not touched. mkdocs.yml loads this file.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?P<role>class|func|meth|attr|data|mod|obj|exc):`(?P<target>[^`]+)`")
_MATH_ROLE = re.compile(r":math:`(?P<tex>[^`]+)`")
_MATH_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<rest>.*)$")
_ARGS_SECTION = re.compile(
    r"^(?P<indent>[ \t]*)(Args|Arguments|Parameters|Keyword Args|Other Parameters):[ \t]*$"
)
_SHARED_ARG = re.compile(
    r"^(?P<indent>[ \t]+)(?P<names>\*{0,2}\w+(?:[ \t]*,[ \t]*\*{0,2}\w+)+)[ \t]*:(?P<rest>.*)$"
)


def _split_shared_args(text: str) -> str:
    """``a, b: text`` in an arguments section as ``a: text`` and ``b: text`` (continuation lines
    repeated with each)."""
    lines = text.splitlines()
    out: list[str] = []
    section_indent: int | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        depth = len(line) - len(line.lstrip())
        if (header := _ARGS_SECTION.match(line)) is not None:
            section_indent = len(header["indent"])
        elif line.strip() and section_indent is not None and depth <= section_indent:
            section_indent = None
        shared = _SHARED_ARG.match(line) if section_indent is not None else None
        if shared is None:
            out.append(line)
            i += 1
            continue
        i += 1
        continuation = []
        while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) > depth:
            continuation.append(lines[i])
            i += 1
        for name in re.split(r"[ \t]*,[ \t]*", shared["names"]):
            out.extend([f"{shared['indent']}{name}:{shared['rest']}", *continuation])
    return "\n".join(out)


def _math_blocks(text: str) -> str:
    """Each ``.. math::`` directive as ``$$`` blocks at the directive's indent, one per group of lines
    (reST separates equations by blank lines; an arithmatex block cannot hold one)."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _MATH_DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent = match["indent"]
        body = [match["rest"]] if match["rest"].strip() else []
        i += 1
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)
        ):
            body.append(lines[i].strip())
            i += 1
        # Trailing blank lines belong to the text after the directive.
        trailing = 0
        while body and not body[-1]:
            body.pop()
            trailing += 1
        groups: list[list[str]] = [[]]
        for line in body:
            if line:
                groups[-1].append(line)
            elif groups[-1]:
                groups.append([])
        for group in groups:
            if group:
                out.extend([f"{indent}$$", *(f"{indent}{line}" for line in group), f"{indent}$$", ""])
        if out and not out[-1] and not trailing:
            out.pop()
        out.extend([""] * trailing)
    return "\n".join(out)


class RstRoles(griffe.Extension):
    """Rewrites every docstring of the loaded package once its object tree is complete."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        self._collection = loader.modules_collection
        self._public = _public_paths(pkg)
        self._walk(pkg)

    def _walk(self, obj: griffe.Object) -> None:
        if obj.docstring is None and obj.is_attribute:
            obj.docstring = _comment_docstring(obj)
        if obj.docstring is not None:
            obj.docstring.value = self._convert(obj.docstring.value, obj)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member)  # type: ignore[arg-type]
        if obj.is_class and _is_torch_module(obj):
            for name in _undocumented_method_attributes(obj):
                del obj.members[name]

    def _convert(self, text: str, obj: griffe.Object) -> str:
        text = _split_shared_args(_math_blocks(text))
        text = _MATH_ROLE.sub(lambda m: rf"\({m['tex']}\)", text)
        return _ROLE.sub(lambda m: self._reference(m["target"], obj), text)

    def _reference(self, target: str, obj: griffe.Object) -> str:
        target = target.strip()
        short = target.startswith("~")
        target = target.lstrip("~!")
        shown = target.lstrip(".").rsplit(".", 1)[-1] if short else target.lstrip(".")
        code = f"<code>{html.escape(shown)}</code>"
        path = self._resolve(target, obj)
        if path is None:
            return code
        path = self._public_path(path)
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    def _public_path(self, path: str) -> str:
        """The path under which the reference documents ``path`` (or a member of it)."""
        prefix, rest = path, ""
        while prefix:
            if prefix in self._public:
                return self._public[prefix] + rest
            prefix, dot, last = prefix.rpartition(".")
            rest = f"{dot}{last}{rest}"
        return path

    def _resolve(self, target: str, obj: griffe.Object) -> str | None:
        module = obj if obj.is_module else obj.module
        if target.startswith("."):
            # Relative to the module's package, as a relative import is (or to the module itself).
            rest = target.lstrip(".")
            package = module if module.is_package else module.parent
            candidates = [f"{p.path}.{rest}" for p in (package, module) if p is not None]
        elif target.split(".", 1)[0] in self._collection.members:
            candidates = [target]
        else:
            first, _, rest = target.partition(".")
            candidates = []
            scope: griffe.Object | None = obj
            while scope is not None and not candidates:
                try:
                    resolved = scope.resolve(first)
                except (griffe.NameResolutionError, AttributeError):
                    scope = scope.parent
                    continue
                candidates = [f"{resolved}.{rest}" if rest else resolved]
        for path in candidates:
            if self._exists(path):
                return path
        return None

    def _exists(self, path: str) -> bool:
        try:
            self._collection.get_member(path)
        except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return False
        return True


def _is_torch_module(cls: griffe.Object) -> bool:
    """Whether ``cls`` derives from ``torch.nn.Module`` (directly, through a Lightning module or
    through classes of the package)."""
    for base in cls.bases:  # type: ignore[attr-defined]
        name = str(base.canonical_path if hasattr(base, "canonical_path") else base)
        if name.split("[", 1)[0].rsplit(".", 1)[-1] in ("Module", "LightningModule", "MessagePassing"):
            return True
        try:
            resolved = cls.modules_collection.get_member(name.split("[", 1)[0])
        except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            continue
        if resolved.is_class and resolved is not cls and _is_torch_module(resolved):
            return True
    return False


def _undocumented_method_attributes(cls: griffe.Object) -> list[str]:
    """Names of the attributes without docstring that ``cls``'s methods assign (``self.x = ...``)."""
    spans = [
        (m.lineno, m.endlineno)
        for m in cls.members.values()
        if not m.is_alias and m.is_function and m.lineno is not None and m.endlineno is not None
    ]
    return [
        name
        for name, member in cls.members.items()
        if not member.is_alias
        and member.is_attribute
        and member.docstring is None
        and member.lineno is not None
        and any(start < member.lineno <= end for start, end in spans)
    ]


def _comment_docstring(attr: griffe.Object) -> griffe.Docstring | None:
    """The ``#:`` comment lines right above ``attr``'s assignment, as its docstring."""
    if attr.lineno is None or attr.filepath is None or isinstance(attr.filepath, list):
        return None
    try:
        lines = attr.lines_collection[attr.filepath]
    except KeyError:
        return None
    comment: list[str] = []
    index = attr.lineno - 2
    while index >= 0 and lines[index].lstrip().startswith("#:"):
        comment.insert(0, lines[index].lstrip()[2:].strip())
        index -= 1
    if not comment:
        return None
    return griffe.Docstring("\n".join(comment), lineno=index + 2, endlineno=attr.lineno - 1, parent=attr)


def _public_paths(pkg: griffe.Module) -> dict[str, str]:
    """Where each exported object is documented: its defining path → the public module's path for it
    (``diffpool.nn.pool.DiffPool`` → ``diffpool.nn.DiffPool``), from the ``__all__`` of the modules
    below the top level, the shallowest first (the top level re-exports the same objects; the
    reference documents them in their modules)."""
    public: dict[str, str] = {}
    queue = [m for m in pkg.modules.values() if not m.name.startswith("_")]
    while queue:
        module = queue.pop(0)
        queue.extend(m for m in module.modules.values() if not m.name.startswith("_"))
        for name in module.exports or ():
            member = module.members.get(name) if isinstance(name, str) else None
            if member is None:
                continue
            try:
                canonical = member.final_target.path if member.is_alias else member.path  # type: ignore[union-attr]
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
            public.setdefault(canonical, f"{module.path}.{name}")
    return public
