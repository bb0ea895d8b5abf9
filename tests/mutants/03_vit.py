"""Realistic wrong answers for notebook 03. Each must lose the points of the tests named."""

MUTANTS = {
    "patch_flatten_order": {
        "patch": [("patchify", "x = x.permute(0, 2, 4, 1, 3, 5)                      # (B, gh, gw, C, p, p)",
                   "x = x.permute(0, 2, 4, 3, 5, 1)                      # (B, gh, gw, p, p, C)")],
        "caught_by": ["test_patchify"],
    },
    "patch_grid_transposed": {
        "patch": [("patch_embed", "return x.flatten(2).transpose(1, 2)    # (B, N, D)",
                   "return x.transpose(2, 3).flatten(2).transpose(1, 2)")],
        "caught_by": ["test_patch_embed"],
    },
    "cls_token_appended": {
        "patch": [("vision_transformer", "x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1) + pos",
                   "x = torch.cat([x, self.cls_token.expand(B, -1, -1)], dim=1) + pos"),
                  ("vision_transformer", "logits = self.head(self.norm(x)[:, 0])", "logits = self.head(self.norm(x)[:, -1])")],
        "caught_by": ["test_vision_transformer", "test_vit_other_sizes"],
    },
    "positional_embedding_missing": {
        "patch": [("vision_transformer", "x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1) + pos",
                   "x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1)")],
        "caught_by": ["test_vision_transformer", "test_vit_other_sizes"],
    },
    "head_reads_mean_token": {
        "patch": [("vision_transformer", "logits = self.head(self.norm(x)[:, 0])", "logits = self.head(self.norm(x).mean(dim=1))")],
        "caught_by": ["test_vision_transformer"],
    },
    "pos_resize_bilinear_grid_mixup": {
        "patch": [("resize_pos_embed", "patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, grid * grid, D)",
                   "patch_pos = patch_pos.reshape(1, D, grid * grid).transpose(1, 2).flip(1)")],
        "caught_by": ["test_resize_pos_embed"],
    },
    "heatmap_mean_over_wrong_axis": {
        "patch": [("cls_attention", "return A.mean(dim=(0, 2))[:, 0, 1:]", "return A.mean(dim=(0, 1))[:, 0, 1:]")],
        "caught_by": ["test_heatmaps"],
    },
    "cls_attention_reads_column_0": {  # the patches' attention to the class token
        "patch": [("cls_attention", "return A.mean(dim=(0, 2))[:, 0, 1:]", "return A.mean(dim=(0, 2))[:, 1:, 0]")],
        "caught_by": ["test_heatmaps"],
    },
    "rollout_wrong_order": {
        "patch": [("cls_attention", "R = A if R is None else A @ R", "R = A if R is None else R @ A")],
        "caught_by": ["test_heatmaps"],
    },
}
