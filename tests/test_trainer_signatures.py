"""Trainer signatures are declared once (``hyperparams``) and generated: explicit, ordered,
typed from ``SkipGramParams``, and they behave as written ``__init__``s do."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest

from embeddings.base import TrainerBase
from embeddings.eges import BGE, EGES, GES
from embeddings.item2vec import Item2Vec
from embeddings.node2vec import DeepWalk, Node2Vec
from embeddings.params import SkipGramParams, skipgram_hyperparams

DECLARED = [Item2Vec, Node2Vec, DeepWalk, BGE, GES, EGES]
FIELDS = {f.name: f for f in dataclasses.fields(SkipGramParams)}


@pytest.mark.parametrize("cls", DECLARED, ids=lambda c: c.__name__)
def test_signature_is_explicit_and_matches_the_declaration(cls: type[TrainerBase]) -> None:
    sig = inspect.signature(cls)
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in sig.parameters.values())
    assert list(sig.parameters) == list(cls.hyperparams) == cls.param_names()
    for name, p in sig.parameters.items():
        assert p.default == cls.hyperparams[name][0] or p.default is cls.hyperparams[name][0]
    hints = typing.get_type_hints(cls.__init__)
    assert {n: hints[n] for n in cls.hyperparams} == {n: a for n, (_, a) in cls.hyperparams.items()}
    t = cls()
    assert t.get_params() == {k: v[0] for k, v in cls.hyperparams.items()}


@pytest.mark.parametrize("cls", DECLARED, ids=lambda c: c.__name__)
def test_skipgram_parameters_take_their_type_from_skipgramparams(cls: type[TrainerBase]) -> None:
    sig = inspect.signature(cls)
    shared = [n for n in sig.parameters if n in FIELDS]
    assert {"dim", "window", "epochs", "negative", "alpha"} <= set(shared)
    types = {"int": int, "float": float, "bool": bool}
    for n in shared:
        assert sig.parameters[n].annotation is types[FIELDS[n].type]


def test_keyword_positional_and_unknown_arguments() -> None:
    a = Node2Vec(0.5, 2.0, num_walks=3)
    assert (a.p, a.q, a.num_walks, a.dim) == (0.5, 2.0, 3, 128)
    with pytest.raises(TypeError, match="Node2Vec.*unexpected keyword argument 'dimm'"):
        Node2Vec(dimm=8)
    with pytest.raises(TypeError, match="multiple values"):
        Node2Vec(0.5, p=1.0)


def test_deepwalk_has_no_p_q_arguments_but_walks_first_order() -> None:
    dw = DeepWalk(dim=8)
    assert "p" not in inspect.signature(DeepWalk).parameters
    assert (dw.p, dw.q) == (1.0, 1.0)
    with pytest.raises(ValueError, match="unknown parameters \\['p'\\]"):
        dw.set_params(p=2.0)
    with pytest.raises(TypeError):
        DeepWalk(p=2.0)


def test_instances_do_not_share_state_and_clone_round_trips() -> None:
    a, b = EGES(fields=["genre"]), EGES()
    assert b.fields is None and a.fields == ["genre"]
    c = a.clone()
    assert c.get_params() == a.get_params() and c.fields is not a.fields


def test_skipgram_hyperparams_rejects_unknown_and_stray_names() -> None:
    with pytest.raises(ValueError, match="not skip-gram parameters: \\['walk_length'\\]"):
        skipgram_hyperparams(("dim", "walk_length"))
    with pytest.raises(ValueError, match="not declared: \\['window'\\]"):
        skipgram_hyperparams(("dim",), window=3)
    assert skipgram_hyperparams(("dim", "epochs"), epochs=2) == {
        "dim": (64, int),
        "epochs": (2, int),
    }
