import torch

from course_utils import embeddings


def test_glove_falls_back_to_the_bundled_subset(capsys):
    table = embeddings.glove(["man", "dog", "street", "notaword123"])
    assert set(table) == {"man", "dog", "street"}
    assert table["man"].shape == (50,)
    assert "bundled subset" in capsys.readouterr().out
    # the subset holds GloVe's own numbers: 'the' is GloVe's first line
    the = embeddings.glove(["the"])["the"]
    assert torch.allclose(the[:3], torch.tensor([0.418, 0.24968, -0.41242]))


def test_embedding_matrix_uses_known_vectors():
    table = {"a": torch.ones(4), "c": torch.full((4,), 2.0)}
    matrix, coverage = embeddings.embedding_matrix(["<pad>", "a", "b", "c"], table, dim=4,
                                                   generator=torch.Generator().manual_seed(0))
    assert matrix.shape == (4, 4) and coverage == 0.5
    assert torch.equal(matrix[1], torch.ones(4)) and torch.equal(matrix[3], torch.full((4,), 2.0))
    assert matrix[2].abs().max() < 1.0


def test_word2vec_puts_words_of_the_same_contexts_together():
    g = torch.Generator().manual_seed(0)
    # words 2 and 3 appear in the same contexts (around 0 and 1); word 4 around 5 and 6
    sentences = []
    for _ in range(400):
        sentences += [[0, 2, 1], [0, 3, 1], [5, 4, 6]]
    vectors = embeddings.train_word2vec(sentences, vocab_size=7, dim=8, window=1, epochs=3, batch_size=64, lr=0.05, generator=g)
    cos = torch.nn.functional.cosine_similarity
    assert cos(vectors[2], vectors[3], dim=0) > cos(vectors[2], vectors[4], dim=0) + 0.3


def test_glove_shakespeare_subset_reads_the_bundle_and_never_downloads(monkeypatch, capsys):
    def no_download():
        raise AssertionError("a named subset must not download")
    monkeypatch.setattr(embeddings, "_download_glove", no_download)
    table = embeddings.glove(["thou", "romeo", "prithee123"], subset="shakespeare")
    assert set(table) == {"thou", "romeo"} and table["thou"].shape == (50,)
    assert "shakespeare vocabulary only" in capsys.readouterr().out
    # the same GloVe numbers as the other subset, for a word both hold
    assert torch.equal(embeddings.glove(["the"], subset="shakespeare")["the"],
                       embeddings.glove(["the"], subset="multi30k")["the"])
    try:
        embeddings.glove(["the"], subset="wikipedia")
    except ValueError as err:
        assert "multi30k" in str(err) and "shakespeare" in str(err)
    else:
        raise AssertionError("an unknown subset must raise ValueError")


def test_pretrained_embedding_adds_the_projected_vectors_and_ties_the_head():
    torch.manual_seed(0)
    table = torch.nn.Embedding(5, 3)
    vectors = torch.randn(5, 2)
    vectors[4] = 0                                    # a word without a pretrained vector
    emb = embeddings.PretrainedEmbedding(table, vectors)
    ids = torch.tensor([[0, 4, 2]])
    assert torch.equal(emb(ids), table(ids))          # the projection starts at zero
    with torch.no_grad():
        emb.proj.weight.normal_()
    expected = table.weight + (vectors / vectors.std()) @ emb.proj.weight.T
    assert torch.allclose(emb.weight, expected)
    assert torch.allclose(emb(ids), expected[ids])
    assert torch.allclose(emb(ids)[0, 1], table.weight[4])   # no vector: the learned row alone
    head = embeddings.TiedHead(emb)
    h = torch.randn(2, 3)
    assert torch.allclose(head(h), h @ expected.T)
    head(h).sum().backward()                          # the head trains the table and the projection
    assert table.weight.grad is not None and emb.proj.weight.grad.abs().sum() > 0
    assert "vectors" not in dict(emb.named_parameters())   # the pretrained vectors stay fixed
    with torch.no_grad():                             # generation: kept, and renewed when a weight changes
        kept = emb.weight
        assert emb.weight is kept and torch.allclose(kept, expected)
        torch.optim.SGD(emb.parameters(), lr=0.1).step()        # in place, as in training
        assert emb.weight is not kept and torch.allclose(emb.weight, table.weight + (vectors / vectors.std()) @ emb.proj.weight.T)
        emb.embedding.weight[0, 0] += 1.0
        assert emb.weight[0, 0] == table.weight[0, 0] + ((vectors / vectors.std()) @ emb.proj.weight.T)[0, 0]
    assert emb.weight.requires_grad                   # with gradients: computed afresh, so that it trains
    try:
        embeddings.PretrainedEmbedding(torch.nn.Embedding(6, 3), vectors)
    except ValueError as err:
        assert "5 pretrained vectors for a vocabulary of 6" in str(err)
    else:
        raise AssertionError("a size mismatch must raise ValueError")


def test_glove_without_its_bundled_subset_downloads_or_says_why(monkeypatch, tmp_path):
    # e.g. on Colab, where only the package is installed and data/ is absent
    monkeypatch.setattr(embeddings.data, "BUNDLED", tmp_path)
    calls = []
    monkeypatch.setattr(embeddings, "_download_glove", lambda: calls.append(1))   # offline: returns None
    try:
        embeddings.glove(["thou"], subset="shakespeare")
    except embeddings.data.DataError as err:
        assert "no bundled GloVe subset" in str(err) and "Could not download" in str(err)
    else:
        raise AssertionError("a missing subset offline must raise DataError")
    assert calls == [1], "a missing subset must fall back to the download"
