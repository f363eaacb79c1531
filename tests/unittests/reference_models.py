"""Shared helpers for parity tests against Hugging Face's CLAP audio model.

Random-init models have trivial BatchNorm statistics (mean 0, var 1) and
zero relative-position tables, which would hide key-mapping mistakes; the
helpers give them non-trivial values and build the small HTSAT geometry the
parity tests share (LAION's 256 x 256 image, 4 stages, 32 frames).
"""

import torch

#: A small width with LAION's HTSAT-tiny geometry (fast, but real strides).
SMALL_HTSAT = dict(
    num_mel_bins=64,
    spec_size=256,
    patch_size=4,
    patch_stride=4,
    patch_embeds_hidden_size=8,
    depths=[2, 2, 2, 1],
    num_attention_heads=[1, 1, 2, 2],
    hidden_size=64,
    window_size=8,
)


def small_clap_audio_config(transformers, **overrides):
    """``ClapAudioConfig`` of the shared small geometry (``overrides`` win)."""
    return transformers.ClapAudioConfig(**{**SMALL_HTSAT, **overrides})


def randomize_reference(model, seed=1, bn_scale=0.2, fusion_scale=0.3):
    """Give BatchNorm statistics, position biases and fusion weights random values.

    Works on HF and on our modules alike (both use BatchNorm2d and
    ``relative_position_bias_table``); returns the model.
    """
    generator = torch.Generator().manual_seed(seed)

    def randn(size, scale=1.0):
        return scale * torch.randn(size, generator=generator)

    with torch.no_grad():
        for name, param in model.named_parameters():
            if "relative_position_bias_table" in name:
                param.copy_(randn(param.shape))
            elif "fusion_model" in name or "mel_conv2d" in name:
                param.copy_(randn(param.shape, fusion_scale))
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(randn(size, bn_scale))
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(1 + randn(size, 0.2))
                module.bias.copy_(randn(size, bn_scale))
    return model
