"""Global negatives across ranks: gather contrastive inputs with gradients.

Under data-parallel training each rank embeds only ``B / world_size`` items;
:func:`gather_contrastive_inputs` gathers everything a loss reads (embeddings
*with* gradients, caption keys, negative flags, view codes, sample indices;
tensors only) so every loss of :mod:`speechbrain_tclap.losses` sees the global
batch's negatives. The gradients are exactly single-process ones: the gather's
backward sums over ranks and DDP averages (open_clip's identity; the proof and
tests are in ``docs/architecture.md`` and ``docs/scaling.md``). Caption keys
must mean the same on every rank (they are derived from the caption text,
:func:`speechbrain_tclap.data.batching.key_to_id`). :func:`unwrap_module`
is the one way the package reaches the module inside a DDP wrapper.

Authors
 * speechbrain-tclap developers 2026
"""

import dataclasses
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """Return True inside an initialised process group of more than one rank.

    Returns
    -------
    bool
        Whether gathering across ranks does anything.

    Example
    -------
    >>> is_distributed()
    False
    """
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _rank_and_world() -> Tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` when not distributed."""
    if not is_distributed():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def _all_gather_tensors(tensor: torch.Tensor) -> List[torch.Tensor]:
    """Same-shape tensors from every rank, in rank order (no autograd)."""
    out = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(out, tensor.contiguous())
    return out


def _all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum of ``tensor`` over ranks (in place, returned)."""
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_sizes(num_rows: int, device=None) -> List[int]:
    """Number of rows each rank holds, in rank order.

    Arguments
    ---------
    num_rows : int
        Rows on this rank.
    device : torch.device, optional
        Where the exchange tensor lives (the backend's device; CUDA for NCCL).

    Returns
    -------
    list of int
        ``[num_rows]`` when not distributed.

    Example
    -------
    >>> gather_sizes(5)
    [5]
    """
    if not is_distributed():
        return [int(num_rows)]
    count = torch.tensor([int(num_rows)], dtype=torch.long, device=device)
    return [int(c) for c in _all_gather_tensors(count)]


def _pad_rows(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    """Zero-pad ``tensor`` along dim 0 to ``rows`` rows."""
    missing = rows - tensor.shape[0]
    if missing == 0:
        return tensor
    pad = tensor.new_zeros((missing,) + tuple(tensor.shape[1:]))
    return torch.cat([tensor, pad])


def _gather_padded(tensor: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """All-gather rows of different counts: pad to the max, gather, unpad."""
    if max(sizes) == 0:  # no rows anywhere (every rank knows): nothing to send
        return tensor
    padded = _pad_rows(tensor, max(sizes))
    chunks = _all_gather_tensors(padded)
    return torch.cat([chunk[:size] for chunk, size in zip(chunks, sizes)])


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums gradients over ranks.

    The backward is one ``all_reduce`` (every backend, gloo included) of the
    same-shape gradients; this rank keeps its own rows.
    """

    @staticmethod
    def forward(ctx, tensor, sizes):
        rank, _ = _rank_and_world()
        ctx.start = sum(sizes[:rank])
        ctx.rows = sizes[rank]
        return _gather_padded(tensor, sizes)

    @staticmethod
    def backward(ctx, grad):
        if grad.numel() == 0:  # the same on every rank: no rows were gathered
            return grad, None
        grad = _all_reduce_sum(grad.contiguous().clone())
        return grad[ctx.start : ctx.start + ctx.rows], None


def gather_with_grad(
    tensor: torch.Tensor, sizes: Optional[Sequence[int]] = None
) -> torch.Tensor:
    """Concatenate every rank's ``tensor`` along dim 0, keeping gradients.

    Ranks may hold different row counts, zero included (padded for the
    collective, then unpadded); the result is in rank order. The backward
    sums the rows' gradients over ranks (module docstring). Identity when
    not distributed.

    Arguments
    ---------
    tensor : torch.Tensor
        ``(N_rank, ...)`` local rows.
    sizes : sequence of int, optional
        Rows held by each rank, if already known (saves one collective).

    Returns
    -------
    torch.Tensor
        ``(sum(N_rank), ...)``.

    Example
    -------
    >>> x = torch.randn(3, 4, requires_grad=True)
    >>> gather_with_grad(x) is x
    True
    """
    if not is_distributed():
        return tensor
    if sizes is None:
        sizes = gather_sizes(tensor.shape[0], tensor.device)
    return _GatherWithGrad.apply(tensor, [int(s) for s in sizes])


@dataclass
class LocalRows:
    """This rank's items in a batch gathered from every rank (``local_loss``).

    With ``local_loss`` (open_clip's option) a loss built on
    :func:`~speechbrain_tclap.losses.contrastive_loss` computes only the
    audio→text rows of this rank's audio and the text→audio rows of its
    texts, against every column, normalised by the rows of *all* ranks and
    multiplied by ``world_size``: gradients stay exactly those of the global
    loss with ``B_local x B_global`` logits per rank (``docs/scaling.md``).
    Terms on the whole gathered batch may be mixed in.

    Arguments
    ---------
    audio : torch.Tensor
        ``(Na,)`` boolean, True for the audio items of this rank.
    text : torch.Tensor
        ``(Nt,)`` boolean, True for the text items of this rank.
    world_size : int
        Number of ranks.

    Example
    -------
    >>> local = LocalRows(torch.tensor([True, True, False]),
    ...     torch.tensor([False, True]), world_size=2)
    >>> local.select(audio=torch.tensor([2, 0])).audio
    tensor([False,  True])
    """

    audio: torch.Tensor
    text: torch.Tensor
    world_size: int

    def select(self, audio=None, text=None) -> "LocalRows":
        """The local rows of a subset of the items (as a loss selects them).

        Arguments
        ---------
        audio : torch.Tensor, optional
            Index or boolean mask of the audio items kept (default all).
        text : torch.Tensor, optional
            Index or boolean mask of the text items kept (default all).

        Returns
        -------
        LocalRows
            The masks of the kept items, in their new order.
        """
        return LocalRows(
            self.audio if audio is None else self.audio[audio],
            self.text if text is None else self.text[text],
            self.world_size,
        )


def _rank_rows(sizes: Sequence[int], rank: int, device=None) -> torch.Tensor:
    """Boolean mask of ``rank``'s rows among the gathered rows of all ranks."""
    rows = torch.zeros(sum(sizes), dtype=torch.bool, device=device)
    start = sum(sizes[:rank])
    rows[start : start + sizes[rank]] = True
    return rows


def gather_contrastive_inputs(inputs, local_loss: bool = False):
    """Gather a batch's :class:`~speechbrain_tclap.losses.ContrastiveInputs` from every rank.

    Embeddings keep gradients; keys, negative flags and view codes are
    gathered as they are (equal captions on different ranks are positives);
    sample indices are offset to stay unique. The logit scale stays local.
    Identity (the same object) when not distributed. Fields are read by name
    (any dataclass with them), so this module stays below the losses.

    Arguments
    ---------
    inputs : ContrastiveInputs
        This rank's inputs.
    local_loss : bool
        Mark this rank's rows (``local``, :class:`LocalRows`) for the loss to compute.

    Returns
    -------
    ContrastiveInputs
        The global batch, in rank order, the same on every rank but ``local``.

    Example
    -------
    >>> from speechbrain_tclap.losses import ContrastiveInputs
    >>> x = ContrastiveInputs(torch.zeros(2, 3), torch.zeros(2, 3),
    ...     torch.tensor(1.0), torch.arange(2), torch.arange(2),
    ...     torch.zeros(2, dtype=torch.bool))
    >>> gather_contrastive_inputs(x) is x
    True
    """
    if not is_distributed():
        return inputs
    samples = [s for s in (inputs.audio_sample, inputs.text_sample) if s is not None]
    num_samples = max((int(s.max()) + 1 for s in samples if s.numel()), default=0)
    # One tensor exchange: rows, samples and which optional views exist.
    device = inputs.audio_emb.device
    counts = torch.tensor(
        [
            inputs.audio_emb.shape[0],
            inputs.text_emb.shape[0],
            num_samples,
            inputs.audio_views is not None,
            inputs.text_views is not None,
        ],
        dtype=torch.long,
        device=device,
    )
    meta = [c.tolist() for c in _all_gather_tensors(counts)]
    rank, world = _rank_and_world()
    audio_sizes = [m[0] for m in meta]
    text_sizes = [m[1] for m in meta]
    offset = sum(m[2] for m in meta[:rank])

    def plain(tensor, sizes, shift=0):
        if tensor is None:
            return None
        return _gather_padded(tensor + shift, sizes)

    def views(tensor, sizes, column):
        # Gathered where every rank has them (``meta`` is the same everywhere).
        if not all(m[column] for m in meta):
            return None
        return plain(tensor, sizes)

    def with_grad(tensor, sizes):
        # Optional rows (codebook weights, order embeddings) exist on every rank or none.
        return None if tensor is None else gather_with_grad(tensor, sizes)

    gathered = dataclasses.replace(
        inputs,
        audio_codewords=with_grad(inputs.audio_codewords, audio_sizes),
        text_codewords=with_grad(inputs.text_codewords, text_sizes),
        audio_order_emb=with_grad(inputs.audio_order_emb, audio_sizes),
        text_order_emb=with_grad(inputs.text_order_emb, text_sizes),
        audio_emb=gather_with_grad(inputs.audio_emb, audio_sizes),
        text_emb=gather_with_grad(inputs.text_emb, text_sizes),
        audio_keys=plain(inputs.audio_keys, audio_sizes),
        text_keys=plain(inputs.text_keys, text_sizes),
        text_is_negative=plain(inputs.text_is_negative.to(torch.uint8), text_sizes).bool(),
        audio_views=views(inputs.audio_views, audio_sizes, 3),
        text_views=views(inputs.text_views, text_sizes, 4),
        audio_sample=plain(inputs.audio_sample, audio_sizes, offset),
        text_sample=plain(inputs.text_sample, text_sizes, offset),
    )
    if local_loss:
        gathered.local = LocalRows(
            _rank_rows(audio_sizes, rank, device), _rank_rows(text_sizes, rank, device), world
        )
    return gathered


def unwrap_module(module):
    """The module inside a DDP / DataParallel wrapper (else the module itself).

    Arguments
    ---------
    module : torch.nn.Module
        A module, wrapped or not.

    Returns
    -------
    torch.nn.Module
        The wrapped module.

    Example
    -------
    >>> linear = torch.nn.Linear(2, 2)
    >>> unwrap_module(torch.nn.DataParallel(linear)) is linear
    True
    >>> unwrap_module(linear) is linear
    True
    """
    return getattr(module, "module", module)
