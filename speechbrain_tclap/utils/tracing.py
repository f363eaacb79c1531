"""Whether code runs eagerly or is being traced into a graph.

Exported programs (``torch.export``, ONNX, TorchScript, ``torch.compile``)
cannot branch on tensor values, so the lobes skip data-dependent checks and
eager-only shortcuts (caches, fused CPU kernels) while traced.

Authors
 * speechbrain-tclap developers 2026
"""

from typing import Optional

import torch


# torch.compiler.is_compiling / is_exporting are missing from older torch
_NEVER = lambda: False  # noqa: E731
_IS_COMPILING = getattr(torch.compiler, "is_compiling", _NEVER)
_IS_EXPORTING = getattr(torch.compiler, "is_exporting", _NEVER)


def is_tracing() -> bool:
    """Whether the current call is being traced or compiled.

    Returns
    -------
    bool
        ``True`` under ``torch.export``, ONNX export, TorchScript tracing or
        scripting, and ``torch.compile``.

    Example
    -------
    >>> is_tracing()
    False
    """
    return (
        _IS_COMPILING()
        or _IS_EXPORTING()
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.onnx.is_in_onnx_export()
    )


def untraced_inference(*tensors: Optional[torch.Tensor]) -> bool:
    """Whether derived tensors may be cached or computed by fused kernels.

    True when no gradient is needed for ``tensors`` and nothing is traced
    (:func:`is_tracing`).

    Arguments
    ---------
    *tensors : torch.Tensor, optional
        Inputs and weights of the computation (``None`` entries are skipped).

    Returns
    -------
    bool
        Whether the computation is plain eager inference.

    Example
    -------
    >>> x = torch.randn(2, 3)
    >>> untraced_inference(x), untraced_inference(x.requires_grad_())
    (True, False)
    """
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in tensors
    )
    return not (needs_grad or is_tracing())
