"""The 3D trunk run as 2D convolutions in channels-last memory, with depth positions as the batch.

MP3D's trunk never strides depth, so every Conv3d with kernel ``(k, kh, kw)`` is a 2D ``(kh, kw)``
convolution over ``k`` neighbouring depth positions stacked as channels, and everything else
(GroupNorm, ReLU, additions, the stem's max-pool) works per position. :class:`FlatTrunk` keeps the
activations as ``(B, L, H, W, C)`` tensors: ``B`` stacks of ``L`` depth positions in channels-last
memory, which oneDNN's 2D kernels run fastest on a CPU; in bfloat16 (``dtype``) they use the AMX or
AVX512-BF16 units where the processor has them (measured in docs/benchmarks.md).

Depth is treated in one of these ways:

* ``window=None, valid=False`` (window mode): each stack is one context window; slice
  convolutions zero-pad its ends and GroupNorm takes its statistics over the whole window. This is
  exactly the 3D trunk's computation (to float rounding; tested).
* ``window=D, valid=True`` (volume mode): one long run of lattice points; every depth convolution
  (and the stem's depth max-pool) keeps only the positions whose inputs all exist, so each layer is
  computed where it is needed and no further (the run shrinks by the layer's depth radius on each
  side), and GroupNorm takes each position's statistics from the ``D`` positions around it (as
  :class:`~lesionviewer.detection.volume_mode.SlidingDepthGroupNorm`, clipped to the run).
* ``window=D, valid=False``: the sliding statistics with zero-padded ends, i.e. exactly
  :func:`~lesionviewer.detection.volume_mode.shared_trunk` (volume mode with a halo shorter than
  the trunk's reach).

Example:
    >>> import torch
    >>> from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk
    >>> trunk = mp3d_trunk(width=8, blocks=(1, 1, 1, 1)).eval()
    >>> flat = FlatTrunk(trunk, window=3, valid=True)
    >>> outputs = flat(torch.zeros(1, 20, 64, 64, 1))
    >>> [(tuple(t.shape), start) for t, start in outputs]  # the run shrinks by 1 + 1 per block
    [((1, 16, 16, 16, 32), 2), ((1, 14, 8, 8, 64), 3), ((1, 12, 4, 4, 128), 4), ((1, 10, 2, 2, 256), 5)]
"""
from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F

from lesionviewer.detection.networks.mp3d_resnet import ResNet3DTrunk
from lesionviewer.detection.networks.pseudo3d import P3DBottleneck
from lesionviewer.detection.networks.resnet3d import Bottleneck3D
from lesionviewer.detection.trunk_rewrites import is_stem_pool
from lesionviewer.detection.volume_mode import depth_trunk_problem


def flat_trunk_problem(trunk: nn.Module) -> str | None:
    """Why :class:`FlatTrunk` cannot run ``trunk``, or None when it can.

    Example:
        >>> from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk
        >>> flat_trunk_problem(mp3d_trunk(width=8, blocks=(1, 1, 1, 1))) is None
        True
        >>> flat_trunk_problem(mp3d_trunk(width=8, blocks=(1, 1, 1, 1), depth_pooling=True))
        'the trunk pools depth (isotropic pooling)'
    """
    problem = depth_trunk_problem(trunk)
    if problem is not None:
        return problem
    if not is_stem_pool(cast(ResNet3DTrunk, trunk).maxpool):
        return "the stem pool is not MaxPool3d(3, stride (1, 2, 2), padding 1)"
    for module in trunk.modules():
        if isinstance(module, nn.Conv3d):
            k, r = module.kernel_size[0], module.padding[0] if isinstance(module.padding, tuple) else -1
            if (module.stride[0] != 1 or module.dilation[0] != 1 or module.groups != 1 or k % 2 == 0
                    or r != k // 2 or module.padding_mode != "zeros"):
                return "a Conv3d is not a same-padded, unit-stride convolution in depth"
        elif isinstance(module, nn.GroupNorm) and not module.affine:
            return "a GroupNorm has no affine parameters"
    return None


class FlatTrunk(nn.Module):
    """An MP3D or MR3D trunk (:class:`ResNet3DTrunk`) on ``(B, L, H, W, 1)`` channels-last stacks.

    Shares nothing it changes: the convolution weights are copied once, rearranged for the 2D form
    and cast to ``dtype``; GroupNorm's weight and bias are read from the trunk. ``forward`` returns,
    per stage, the output ``(B, L', H', W', C)`` and the number of positions it lost at the start
    of the run (always 0 when ``valid`` is False). Outputs are in ``dtype``.

    Example:
        >>> from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk
        >>> trunk = mp3d_trunk(width=8, blocks=(1, 1, 1, 1)).eval()
        >>> flat = FlatTrunk(trunk, window=None, valid=False)
        >>> x = torch.randn(2, 1, 3, 32, 32)
        >>> with torch.no_grad():
        ...     ours = flat(x.permute(0, 2, 3, 4, 1))[3][0]
        ...     theirs = trunk(x)[3]
        >>> torch.allclose(ours.permute(0, 4, 1, 2, 3), theirs, atol=1e-4)
        True
    """

    #: The wrapped 3D trunk, kept outside the submodule registry (its parameters are the model's); its
    #: layout (stem conv1/norm1, layer1-4 of known blocks) is what flat_trunk_problem checked.
    trunk: Any

    def __init__(self, trunk: nn.Module, window: int | None, valid: bool, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        problem = flat_trunk_problem(trunk)
        if problem is not None:
            raise ValueError(f"cannot run this trunk flat: {problem}")
        self.__dict__["trunk"] = trunk  # not a submodule: its parameters are the model's
        self.window = None if window is None else int(window)
        self.valid = bool(valid)
        self.dtype = dtype
        self._weights: dict[int, torch.Tensor] = {}
        with torch.no_grad():
            for module in trunk.modules():
                if isinstance(module, nn.Conv3d):
                    w = module.weight  # (O, C, k, kh, kw) -> (O, k * C, kh, kw): depth taps as channel blocks
                    o, c, k, kh, kw = w.shape
                    flat = w.permute(0, 2, 1, 3, 4).reshape(o, k * c, kh, kw)
                    self._weights[id(module)] = flat.to(dtype).contiguous(memory_format=torch.channels_last)

    def depth_loss(self) -> int:
        """Positions a valid run loses at each end through the whole trunk (0 in window mode).

        Example:
            >>> from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk
            >>> FlatTrunk(mp3d_trunk(width=8), window=9, valid=True).depth_loss()  # stem pool + 16 slice convs
            17
        """
        if not self.valid:
            return 0
        trunk, total = self.trunk, 1  # the stem's depth max-pool
        for stage in range(4):
            for block in getattr(trunk, f"layer{stage + 1}"):
                across = block.conv_t if isinstance(block, P3DBottleneck) else block.conv2
                total += across.kernel_size[0] // 2
        return total

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, int]]:
        trunk = self.trunk
        windows = getattr(trunk, "input_windows", None)
        if windows is not None:  # extra HU windows as channels, computed in float before any cast
            x = windows(x.float(), dim=-1)
        x = x.to(self.dtype).contiguous()
        stem_conv, stem_norm = cast(nn.Conv3d, trunk.conv1), cast(nn.Module, trunk.norm1)
        x = self._norm(self._conv(x, stem_conv), stem_norm, relu=True)
        x = self._stem_pool(x)
        lost = 1 if self.valid else 0
        outputs = []
        for stage in range(4):
            for block in getattr(trunk, f"layer{stage + 1}"):
                before = x.shape[1]
                x = self._p3d(x, block) if isinstance(block, P3DBottleneck) else self._bottleneck3d(x, block)
                lost += (before - x.shape[1]) // 2
            outputs.append((x, lost))
        return outputs

    # -- layers ------------------------------------------------------------------------------------

    def _conv(self, x: torch.Tensor, conv: nn.Conv3d) -> torch.Tensor:
        k = conv.kernel_size[0]
        if k > 1:
            r = k // 2
            if not self.valid:
                x = F.pad(x, (0, 0, 0, 0, 0, 0, r, r))
            n = x.shape[1] - 2 * r
            if n < 1:
                raise ValueError(f"a run of {x.shape[1]} positions is too short for a depth kernel of {k}")
            x = torch.cat([x[:, j:j + n] for j in range(k)], dim=-1)
        weight = self._weights[id(conv)]
        bias = None if conv.bias is None else conv.bias.to(self.dtype)
        if weight.shape[-2:] == (1, 1) and conv.padding[1:] == (0, 0):
            # a pointwise convolution is a matrix product over the channels-last rows
            step_h, step_w = conv.stride[1:]
            if (step_h, step_w) != (1, 1):
                x = x[:, :, ::step_h, ::step_w]
            # as one 2D product: a >2-D bf16 input would make matmul copy the weight for every position
            out = F.linear(x.reshape(-1, x.shape[-1]), weight.reshape(weight.shape[0], -1), bias)
            return out.reshape(*x.shape[:-1], out.shape[-1])
        b, length, h, w, c = x.shape
        planes = x.reshape(b * length, h, w, c).permute(0, 3, 1, 2)  # a channels-last view
        out = F.conv2d(planes, weight, bias, stride=conv.stride[1:], padding=conv.padding[1:])
        out = out.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
        return out.reshape(b, length, *out.shape[1:])

    def _norm(self, x: torch.Tensor, norm: nn.Module, relu: bool) -> torch.Tensor:
        if not isinstance(norm, nn.GroupNorm):  # the norm-free trunks of the tests
            return torch.relu(x) if relu else x
        b, length, h, w, c = x.shape
        groups = norm.num_groups
        rows = x.reshape(b * length, h * w, c)
        ones = rows.new_ones(1, 1, h * w).expand(b * length, 1, h * w)
        # each position's channel sums and sums of squares as batched products with ones (oneDNN
        # and MKL accumulate in float32), then per group in float64
        sums = torch.cat([torch.bmm(ones, rows), torch.bmm(ones, rows * rows)], dim=1)
        count = h * w * (c // groups)
        stats = sums.double().reshape(b, length, 2, groups, c // groups).sum(-1).transpose(1, 2) / count
        if self.window is None:
            pooled = stats.mean(dim=2, keepdim=True).expand_as(stats)
        else:
            below, above = self.window // 2, self.window - 1 - self.window // 2
            series = stats.permute(0, 1, 3, 2).reshape(-1, 1, length)
            kernel = stats.new_ones(1, 1, self.window)
            summed = F.conv1d(F.pad(series, (below, above)), kernel)
            counts = F.conv1d(F.pad(stats.new_ones(1, 1, length), (below, above)), kernel)
            pooled = (summed / counts).reshape(b, 2, groups, length).permute(0, 1, 3, 2)
        mean = pooled[:, 0]
        scale = torch.rsqrt((pooled[:, 1] - mean * mean).clamp_min(0) + norm.eps)  # (b, length, groups)
        a = scale.repeat_interleave(c // groups, dim=2) * norm.weight.double()
        shift = norm.bias.double() - mean.repeat_interleave(c // groups, dim=2) * a
        out = torch.addcmul(shift.to(x.dtype)[:, :, None, None], x, a.to(x.dtype)[:, :, None, None])
        return out.relu_() if relu else out

    def _stem_pool(self, x: torch.Tensor) -> torch.Tensor:
        b, length, h, w, c = x.shape
        planes = F.max_pool2d(x.reshape(b * length, h, w, c).permute(0, 3, 1, 2), 3, 2, 1).permute(0, 2, 3, 1)
        x = planes.reshape(b, length, *planes.shape[1:])
        if not self.valid:
            x = F.pad(x, (0, 0, 0, 0, 0, 0, 1, 1), value=float("-inf"))
        return torch.maximum(torch.maximum(x[:, :-2], x[:, 1:-1]), x[:, 2:])

    def _p3d(self, x: torch.Tensor, block: P3DBottleneck) -> torch.Tensor:
        identity = x if block.downsample is None else self._shortcut(x, block.downsample)
        out = self._norm(self._conv(x, block.conv1), block.norm1, relu=True)
        if block.variant == "A":
            out = self._across(self._spatial(out, block), block)
        elif block.variant == "B":
            across = self._across(out, block)
            out = _crop_like(self._spatial(out, block), across).add_(across)
        else:
            spatial = self._spatial(out, block)
            across = self._across(spatial, block)
            out = _crop_like(spatial, across) + across
        out = self._norm(self._conv(out, block.conv3), block.norm3, relu=False)
        return out.add_(_crop_like(identity, out)).relu_()

    def _shortcut(self, x: torch.Tensor, downsample: nn.Module) -> torch.Tensor:
        conv, norm = cast(nn.Sequential, downsample)
        return self._norm(self._conv(x, cast(nn.Conv3d, conv)), norm, relu=False)

    def _spatial(self, x: torch.Tensor, block: P3DBottleneck) -> torch.Tensor:
        return self._norm(self._conv(x, block.conv_s), block.norm_s, relu=True)

    def _across(self, x: torch.Tensor, block: P3DBottleneck) -> torch.Tensor:
        return self._norm(self._conv(x, block.conv_t), block.norm_t, relu=True)

    def _bottleneck3d(self, x: torch.Tensor, block: Bottleneck3D) -> torch.Tensor:
        identity = x if block.downsample is None else self._shortcut(x, block.downsample)
        out = self._norm(self._conv(x, block.conv1), block.norm1, relu=True)
        out = self._norm(self._conv(out, block.conv2), block.norm2, relu=True)
        out = self._norm(self._conv(out, block.conv3), block.norm3, relu=False)
        return out.add_(_crop_like(identity, out)).relu_()


def _crop_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    cut = (x.shape[1] - like.shape[1]) // 2
    return x[:, cut:x.shape[1] - cut] if cut else x


def flat_windows_to_2d(convert: nn.Module, stage: torch.Tensor, starts, depth: int) -> torch.Tensor:
    """2D maps ``(n, C, H, W)`` (channels-last, float32) of the ``depth``-position windows of a flat stage output.

    ``stage`` is ``(B, L, H, W, C)``; window ``i`` is stack ``starts[i][0]``, positions
    ``starts[i][1] .. starts[i][1] + depth - 1``. ``convert`` is the model's 3D-to-2D module (GTM,
    centre slice or depth convolution); the result equals it applied to each window.

    Example:
        >>> from lesionviewer.detection.networks.depth_to_2d import CenterSlice
        >>> stage = torch.arange(5.).view(1, 5, 1, 1, 1)
        >>> flat_windows_to_2d(CenterSlice(), stage, [(0, 0), (0, 2)], 3).flatten().tolist()
        [1.0, 3.0]
    """
    from lesionviewer.detection.networks.depth_to_2d import CenterSlice, DepthConv, GroupTransform

    b, length, h, w, c = stage.shape
    rows = stage.reshape(b * length, h, w, c)
    first = torch.as_tensor([s * length + p for s, p in starts], dtype=torch.long, device=stage.device)

    def tap(j: int) -> torch.Tensor:
        return rows.index_select(0, first + j)

    if isinstance(convert, CenterSlice):
        out = tap(depth // 2).float()
    elif isinstance(convert, GroupTransform):
        if convert.depth != depth:
            raise ValueError(f"GTM built for {convert.depth} slices, not {depth}")
        weight = convert.conv.weight.reshape(c, depth).float()
        out = tap(0).float() * weight[:, 0]
        for j in range(1, depth):
            out.addcmul_(tap(j).float(), weight[:, j])
    elif isinstance(convert, DepthConv):
        weight = convert.conv.weight  # (C', C, depth, 1, 1)
        dense = weight[..., 0, 0].permute(0, 2, 1).reshape(weight.shape[0], depth * c).float()
        out = F.linear(torch.cat([tap(j).float() for j in range(depth)], dim=-1), dense)
    else:
        raise TypeError(f"the flat trunk does not know the 3D-to-2D module {type(convert).__name__}")
    return out.permute(0, 3, 1, 2)
