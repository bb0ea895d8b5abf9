"""Helpers of the hidden tests that students must not see.

A reference that would give an answer away cannot live in course_utils.checks, which is published.
Hidden tests run only while the instructor grades (or runs a solution notebook), in the instructor's
environment, where this module can be imported; releases and publications contain neither the
hidden tests nor this module.
"""
import torch


def seq2seq_logits(model, src, tgt_in, pad=0):
    """Notebook 05's Seq2SeqTransformer forward, written out from its parts: the encoder blocks on
    the source with its padding mask, ``enc_norm``; then every decoder layer's pre-norm masked
    self-attention (causal, target padding hidden), cross-attention on the memory and MLP, each with
    its residual; ``dec_norm`` and the output layer. src (B, S), tgt_in (B, T) -> (B, T, V).

    The grading sandbox shows this module to the kernel, so the hidden test forbids calls of this
    function while the student's model runs (``checks.forbid``). No decorator: forbid knows a
    function by its code object, which a decorator's wrapper shares with every function it wraps."""
    src_mask = (src != pad)[:, None, None, :]
    x = model.embed_src(src)
    for block in model.encoder:
        x = block(x, attn_mask=src_mask)
    memory = model.enc_norm(x)
    T = tgt_in.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    tgt_mask = causal[None, None] & (tgt_in != pad)[:, None, None, :]
    y = model.embed_tgt(tgt_in)
    for layer in model.decoder:
        h = y + layer.self_attn(layer.norm1(y), tgt_mask)[0]
        h = h + layer.cross_attn(layer.norm2(h), memory, src_mask)[0]
        y = h + layer.mlp(layer.norm3(h))
    return model.out(model.dec_norm(y))


WORDS = "pad bos eos a b c".split()  # the vocabulary of notebook 05's ChainModel


def chain_model(base, **rows):
    """An instance of notebook 05's ChainModel class ``base`` (a Markov chain over WORDS) whose
    table has new next-word probabilities for some words:
    ``chain_model(ChainModel, bos=[0, 0, .3, .7, 0, 0])``."""
    model = base()
    model.TABLE = base.TABLE.clone()
    for word, row in rows.items():
        model.TABLE[WORDS.index(word)] = torch.tensor(row)
    return model
