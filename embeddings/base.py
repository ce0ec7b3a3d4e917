"""The ``Trainer`` protocol and ``TrainerBase``, the scikit-learn-style parameter plumbing.

Every trainer (``Item2Vec``, ``DeepWalk``, ``Node2Vec``, ``BGE`` / ``GES`` / ``EGES``,
``Popularity``, ``ItemKNN``, ``ImplicitMF``) takes its hyperparameters as keyword arguments of
``__init__``, stores each under its own name and does nothing else there; ``fit(data,
side_info=None) -> Embeddings`` does the work. ``TrainerBase`` derives everything else from the
``__init__`` signature, as scikit-learn's ``BaseEstimator`` does:

- ``param_names()`` the hyperparameter names, ``get_params()`` their values, ``set_params(**p)``
  (unknown names -> ``ValueError`` naming them; returns ``self``);
- ``clone()`` (and :func:`clone`, and ``sklearn.base.clone``): a new unfitted trainer with equal
  parameters.

A trainer also says what it needs, so that a caller never inspects signatures:

- ``uses_side_info``: ``fit`` reads ``side_info`` (an ``ItemSideInfo``); the others ignore it;
- ``input_kind``: ``"sessions"`` (``Interactions`` or ``Sessions``; Item2Vec also takes a list of id arrays),
  ``"graph"`` (also an ``ItemGraph`` or a networkx graph, which is walked) or
  ``"interactions"`` (an ``Interactions`` table only);
- ``has_field_weights``: after ``fit``, ``field_weights()`` returns the learned per-item weights
  of the side-information fields (a DataFrame item_id x ["item", *fields]).
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from embeddings.types import Embeddings

__all__ = [
    "HyperParams",
    "InputKind",
    "Trainer",
    "TrainerBase",
    "clone",
    "is_trainer",
    "public_module",
]

InputKind = Literal["sessions", "graph", "interactions"]


@runtime_checkable
class Trainer(Protocol):
    """What every trainer offers (see the module docstring)."""

    uses_side_info: ClassVar[bool]
    input_kind: ClassVar[InputKind]
    has_field_weights: ClassVar[bool]
    random_state: Any

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def set_params(self, **params: Any) -> Any: ...

    def fit(self, data: Any, side_info: Any = None) -> Embeddings: ...


#: a declared hyperparameter: ``name -> (default, annotation)``
HyperParams = dict[str, tuple[Any, Any]]


def _generated_init(cls: type, hyperparams: HyperParams) -> Any:
    """An ``__init__`` for ``cls`` that stores every declared hyperparameter under its own name.

    Its ``__signature__`` lists them explicitly, in order, with their defaults and annotations
    (what ``inspect.signature``, ``help()``, notebooks' completion, ``get_params`` and
    ``sklearn.base.clone`` read); arguments may be given by keyword or position, and an unknown
    one raises ``TypeError`` as a written ``__init__`` would.
    """
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for name, (default, annotation) in hyperparams.items():
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=default,
                annotation=annotation,
            )
        )
    sig = inspect.Signature(params, return_annotation=None)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            bound = sig.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{type(self).__name__}(): {exc}") from None
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = sig  # type: ignore[attr-defined]
    # typing.get_type_hints (configs' type checks) reads __annotations__, not the signature
    __init__.__annotations__ = {n: a for n, (_, a) in hyperparams.items()} | {"return": None}
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__doc__ = f"Store the hyperparameters of {cls.__name__} (see the class docstring)."
    return __init__


class TrainerBase:
    """Parameter plumbing shared by all trainers (see the module docstring).

    Subclasses set the three class attributes and declare their hyperparameters in
    ``hyperparams`` (``name -> (default, annotation)``, in signature order; the skip-gram ones
    come from :func:`embeddings.params.skipgram_hyperparams`, so their types and validation live
    in ``SkipGramParams`` only): an explicit ``__init__`` storing each under its own name is
    generated from it. A subclass may instead write its own ``__init__`` with explicit keyword
    arguments that it stores unchanged (``self.x = x``).
    """

    uses_side_info: ClassVar[bool] = False
    input_kind: ClassVar[InputKind] = "sessions"
    has_field_weights: ClassVar[bool] = False
    hyperparams: ClassVar[HyperParams]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "hyperparams" in cls.__dict__ and "__init__" not in cls.__dict__:
            cls.__init__ = _generated_init(cls, cls.hyperparams)  # type: ignore[method-assign]

    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the hyperparameters (the keyword arguments of ``__init__``), in order."""
        sig = inspect.signature(cls.__init__)
        names = []
        for name, p in sig.parameters.items():
            if name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must list its parameters explicitly")
            names.append(name)
        return names

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyperparameters as given (``deep`` is accepted for scikit-learn and has no effect:
        no parameter is itself an estimator)."""
        return {k: getattr(self, k) for k in self.param_names()}

    def set_params(self, **params: Any) -> Any:
        """Set hyperparameters by name; returns ``self``. Unknown names raise ``ValueError``
        naming them (and nothing is changed)."""
        valid = self.param_names()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown parameters {unknown} (valid: {', '.join(valid)})"
            )
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def clone(self) -> Any:
        """A new, unfitted trainer of the same class with (deep copies of) the same parameters."""
        return type(self)(**{k: copy.deepcopy(v) for k, v in self.get_params().items()})

    def _meta_params(self) -> dict[str, Any]:
        """The parameters recorded in ``Embeddings.meta`` (no progress flag, no seed object)."""
        out = self.get_params()
        out.pop("progress", None)
        out.pop("random_state", None)
        if out.get("fields") is not None:
            out["fields"] = list(out["fields"])
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def clone(trainer: Any) -> Any:
    """A new unfitted trainer with equal parameters (``trainer.clone()``)."""
    if not is_trainer(trainer):
        raise ValueError(f"clone needs a trainer, got {type(trainer).__name__}")
    return trainer.clone()


def is_trainer(obj: Any) -> bool:
    """True for a trainer class or instance (a ``TrainerBase``, or anything with the protocol)."""
    if isinstance(obj, type):
        return issubclass(obj, TrainerBase)
    return isinstance(obj, TrainerBase) or isinstance(obj, Trainer)


def public_module(name: str) -> Any:
    """Class decorator: report ``name`` as the class's module (its public import path), as
    numpy's ``set_module`` does, so ``module:Class`` specs (configs) and pickles use the path
    users import from rather than the file that defines the class."""

    def deco(cls: type) -> type:
        cls.__module__ = name
        return cls

    return deco
