import torch

from course_utils import embeddings


def test_glove_falls_back_to_the_bundled_subset(capsys):
    table = embeddings.glove(["man", "dog", "street", "notaword123"])
    assert set(table) == {"man", "dog", "street"}
    assert table["man"].shape == (50,)
    assert "bundled GloVe subset" in capsys.readouterr().out
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
