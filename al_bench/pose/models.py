"""OpenPose-style bottom-up pose networks: a backbone, an initial stage and refinement stages.

Every stage predicts 18 heatmaps (17 COCO keypoints + background) and 38 part-affinity fields
(COCO's 19 limbs), and every stage is supervised (``forward`` returns all of them). Three backbones:

- ``tiny``: a small plain CNN for CPU work (128 px input, stride 4).
- ``mobilenet``: Lightweight OpenPose (D. Osokin, "Real-time 2D Multi-Person Pose Estimation on CPU:
  Lightweight OpenPose", arXiv:1811.12004, 2018): MobileNetV1 to conv5_5 (stride 8, conv5_1 dilated) + the
  residual CPM; with its initial stage and one residual refinement stage (``refinement_stage.kind:
  residual``) it has 4.1 M parameters, as published (368 px, stride 8).
- ``vgg19``: CMU OpenPose (Cao et al. 2017): VGG19 conv1_1-conv4_2 + two CPM convs, 368 px, stride 8;
  ImageNet-initialised from a local torchvision weights file (nothing is downloaded).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from al_bench.data.skeleton import NUM_HEATMAPS, NUM_PAFS

StageOutput = tuple[torch.Tensor, torch.Tensor]

# torchvision's IMAGENET1K_V1 VGG19 file name (its download URL's basename), looked up in torch.hub's cache.
VGG19_WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"
VGG19_CONV4_2_END = 23  # torchvision vgg19().features[:23] = conv1_1 ... conv4_2 + ReLU


def conv_bn_relu(
    in_ch: int,
    out_ch: int,
    kernel: int = 3,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    bn: bool = True,
) -> nn.Sequential:
    """Conv (+ BatchNorm) + ReLU with 'same' padding."""
    padding = dilation * (kernel - 1) // 2
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride, padding, dilation=dilation, groups=groups, bias=not bn)
    ]
    if bn:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def depthwise_separable(in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """MobileNetV1 block: 3x3 depthwise conv + 1x1 pointwise conv, each with BatchNorm + ReLU."""
    return nn.Sequential(
        conv_bn_relu(in_ch, in_ch, 3, stride, dilation, groups=in_ch),
        conv_bn_relu(in_ch, out_ch, 1),
    )


class Branch(nn.Module):
    """``depth`` convs of size ``kernel`` then a 1x1 hidden conv and a 1x1 linear output conv."""

    def __init__(
        self, in_ch: int, width: int, depth: int, kernel: int, head_width: int, out_ch: int, bn: bool
    ):
        super().__init__()
        layers = [conv_bn_relu(in_ch if i == 0 else width, width, kernel, bn=bn) for i in range(depth)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Conv2d(width if depth else in_ch, head_width, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(head_width, out_ch, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class PredictionStage(nn.Module):
    """One OpenPose stage: predicts heatmaps and PAFs from backbone features (+ the previous stage's maps).

    ``separate_branches`` gives CMU OpenPose's two branches (one per output); otherwise a shared trunk
    feeds two 1x1 heads (Lightweight OpenPose), which costs half the compute.
    """

    def __init__(
        self,
        in_ch: int,
        width: int,
        depth: int,
        kernel: int,
        head_width: int,
        separate_branches: bool,
        bn: bool,
    ):
        super().__init__()
        self.separate_branches = separate_branches
        if separate_branches:
            self.heatmaps = Branch(in_ch, width, depth, kernel, head_width, NUM_HEATMAPS, bn)
            self.pafs = Branch(in_ch, width, depth, kernel, head_width, NUM_PAFS, bn)
        else:
            layers = [conv_bn_relu(in_ch if i == 0 else width, width, kernel, bn=bn) for i in range(depth)]
            self.trunk = nn.Sequential(*layers)
            self.heatmaps = Branch(width, width, 0, 1, head_width, NUM_HEATMAPS, bn)
            self.pafs = Branch(width, width, 0, 1, head_width, NUM_PAFS, bn)

    def forward(self, x: torch.Tensor) -> StageOutput:
        if not self.separate_branches:
            x = self.trunk(x)
        return self.heatmaps(x), self.pafs(x)


class RefinementBlock(nn.Module):
    """Lightweight OpenPose refinement block: a 1x1 conv, then 3x3 -> 3x3 (dilation 2) convs with
    BatchNorm, added back onto the 1x1 conv's output (a residual block with a 5x5-like view per 3x3 pair)."""

    def __init__(self, in_ch: int, width: int, bn: bool = True):
        super().__init__()
        self.initial = conv_bn_relu(in_ch, width, 1, bn=False)
        self.trunk = nn.Sequential(
            conv_bn_relu(width, width, 3, bn=bn), conv_bn_relu(width, width, 3, dilation=2, bn=bn)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.initial(x)
        return x + self.trunk(x)


class ResidualRefinementStage(nn.Module):
    """Lightweight OpenPose refinement stage: ``blocks`` :class:`RefinementBlock` s as a shared trunk, then a
    1x1 (``head_width``) + 1x1 head per output. Replaces CMU's five 7x7 convs at a fraction of the cost."""

    def __init__(self, in_ch: int, width: int, blocks: int, head_width: int, bn: bool):
        super().__init__()
        self.trunk = nn.Sequential(
            *[RefinementBlock(in_ch if i == 0 else width, width, bn) for i in range(blocks)]
        )
        self.heatmaps = Branch(width, width, 0, 1, head_width, NUM_HEATMAPS, bn=False)
        self.pafs = Branch(width, width, 0, 1, head_width, NUM_PAFS, bn=False)

    def forward(self, x: torch.Tensor) -> StageOutput:
        x = self.trunk(x)
        return self.heatmaps(x), self.pafs(x)


class PoseNet(nn.Module):
    """Backbone + stage 1 + refinement stages; every stage sees the features and the previous maps.

    Attributes:
        stride: input pixels per output cell.
        input_size: square network input side in pixels.
        feature_dim: size of :meth:`features` vectors.
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_ch: int,
        stages: list[nn.Module],
        stride: int,
        input_size: int,
    ):
        super().__init__()
        self.backbone = backbone
        self.stages = nn.ModuleList(stages)
        self.stride = int(stride)
        self.input_size = int(input_size)
        self.feature_dim = int(feature_ch)

    def forward(self, x: torch.Tensor) -> list[StageOutput]:
        """Returns ``[(heatmaps (B,18,h,w), pafs (B,38,h,w))]``, one pair per stage; the last is the output."""
        return self.run_stages(self.backbone(x))

    def run_stages(self, feats: torch.Tensor) -> list[StageOutput]:
        """The stages on backbone feature maps (lets inference reuse one backbone pass for features too)."""
        outputs = [self.stages[0](feats)]
        for stage in self.stages[1:]:
            outputs.append(stage(torch.cat([feats, *outputs[-1]], dim=1)))
        return outputs

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled backbone features ``(B, feature_dim)`` (the ``pose_backbone`` embedding)."""
        return self.backbone(x).mean(dim=(2, 3))


def init_weights(module: nn.Module) -> None:
    """He-normal convs (fan-in, so depthwise convs keep the signal's scale), zero biases, unit BatchNorm.

    PyTorch's default conv init shrinks activations by ~3x per layer (fan-out He init by ~20x per
    depthwise conv): after the ~25 layers of the MobileNet trunk an untrained net in eval mode would
    output constants, whatever the image.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _tiny_backbone(cfg: Mapping[str, Any]) -> tuple[nn.Module, int, int]:
    """Plain CNN: ``len(widths)`` blocks; the first ``log2(stride)`` blocks start with a stride-2 conv."""
    widths = list(cfg["widths"])
    n_down = int(cfg["stride"]).bit_length() - 1
    if 2**n_down != int(cfg["stride"]) or n_down > len(widths):
        raise ValueError(
            f"model.stride={cfg['stride']} must be a power of 2 with at most len(model.widths) halvings"
        )
    layers, in_ch = [], 3
    for i, width in enumerate(widths):
        layers.append(conv_bn_relu(in_ch, width, 3, stride=2 if i < n_down else 1))
        layers += [conv_bn_relu(width, width, 3) for _ in range(int(cfg.get("convs_per_block", 1)) - 1)]
        in_ch = width
    backbone = nn.Sequential(*layers)
    init_weights(backbone)
    return backbone, in_ch, int(cfg["stride"])


def depthwise_separable_elu(in_ch: int, out_ch: int) -> nn.Sequential:
    """The CPM's depthwise-separable conv: 3x3 depthwise + 1x1 pointwise, each + ELU, no BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(in_ch, in_ch, 3, 1, 1, groups=in_ch, bias=False),
        nn.ELU(inplace=True),
        nn.Conv2d(in_ch, out_ch, 1, bias=False),
        nn.ELU(inplace=True),
    )


class Cpm(nn.Module):
    """Lightweight OpenPose's feature adapter: a 1x1 ``align`` conv to ``width`` channels, three
    depthwise-separable convs added back onto it (residual), then a 3x3 conv (no BatchNorm anywhere)."""

    def __init__(self, in_ch: int, width: int):
        super().__init__()
        self.align = conv_bn_relu(in_ch, width, 1, bn=False)
        self.trunk = nn.Sequential(*[depthwise_separable_elu(width, width) for _ in range(3)])
        self.conv = conv_bn_relu(width, width, 3, bn=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.align(x)
        return self.conv(x + self.trunk(x))


def _mobilenet_backbone(cfg: Mapping[str, Any]) -> tuple[nn.Module, int, int]:
    """Lightweight OpenPose trunk (Osokin 2018): MobileNetV1 conv1 ... conv5_5 without the stride of conv4_2
    (so stride 8), only conv5_1 dilated (2), then the residual :class:`Cpm` (``cpm_width`` channels)."""
    w = float(cfg.get("width_mult", 1.0))

    def c(n: int) -> int:
        return max(8, int(n * w))

    trunk = nn.Sequential(
        conv_bn_relu(3, c(32), 3, stride=2),  # conv1
        depthwise_separable(c(32), c(64)),  # conv2_1
        depthwise_separable(c(64), c(128), stride=2),  # conv2_2
        depthwise_separable(c(128), c(128)),  # conv3_1
        depthwise_separable(c(128), c(256), stride=2),  # conv3_2
        depthwise_separable(c(256), c(256)),  # conv4_1
        depthwise_separable(c(256), c(512)),  # conv4_2 (stride 1: the output stays at stride 8)
        depthwise_separable(c(512), c(512), dilation=2),  # conv5_1
        *[depthwise_separable(c(512), c(512)) for _ in range(4)],  # conv5_2 ... conv5_5
    )
    cpm_width = int(cfg.get("cpm_width", 128))
    backbone = nn.Sequential(trunk, Cpm(c(512), cpm_width))
    init_weights(backbone)
    return backbone, cpm_width, 8


def vgg19_weights_file(cfg: Mapping[str, Any]) -> Path:
    """Where the ImageNet VGG19 weights are expected: ``model.weights_path`` or torchvision's hub cache."""
    if cfg.get("weights_path"):
        return Path(str(cfg["weights_path"])).expanduser()
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_WEIGHTS_FILE


def _load_vgg19_trunk(cfg: Mapping[str, Any]) -> nn.Sequential:
    """VGG19 conv1_1-conv4_2, ImageNet-initialised when ``model.pretrained`` (never downloads)."""
    from torchvision.models import vgg19

    net = vgg19(weights=None)
    if cfg.get("pretrained", True):
        path = vgg19_weights_file(cfg)
        if not path.is_file():
            raise FileNotFoundError(
                f"ImageNet VGG19 weights not found at {path}. Nothing is downloaded at run time: copy torchvision's "
                f"'{VGG19_WEIGHTS_FILE}' there, or pass model.weights_path=/path/to/{VGG19_WEIGHTS_FILE}, "
                "or train from scratch with model.pretrained=false."
            )
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.features[:VGG19_CONV4_2_END]


def _vgg19_backbone(cfg: Mapping[str, Any]) -> tuple[nn.Module, int, int]:
    """CMU OpenPose front end: VGG19 to conv4_2 (stride 8) + conv4_3_CPM (256) + conv4_4_CPM (128)."""
    cpm = nn.Sequential(conv_bn_relu(512, 256, 3, bn=False), conv_bn_relu(256, 128, 3, bn=False))
    init_weights(cpm)
    return nn.Sequential(_load_vgg19_trunk(cfg), cpm), 128, 8


BACKBONES = {"tiny": _tiny_backbone, "mobilenet": _mobilenet_backbone, "vgg19": _vgg19_backbone}


def backbone_builder(backbone: Any, model_name: Any = None) -> Callable[[dict], tuple[nn.Module, int, int]]:
    """The function ``model.backbone`` names: a key of :data:`BACKBONES`, or the dotted path of a
    user's function ``(model_cfg) -> (module, feature channels, stride)`` (a name with a dot, as in
    ``_target_``), so a new backbone needs no edit here.

    Raises:
        ValueError: neither a built-in key nor a dotted path.
    """
    if backbone in BACKBONES:
        return BACKBONES[backbone]
    if isinstance(backbone, str) and "." in backbone:
        from hydra.utils import get_method

        return get_method(backbone)
    raise ValueError(
        f"model.backbone={backbone!r} (model.name={model_name!r}); valid: {sorted(BACKBONES)} "
        "or the dotted path of your function (model_cfg) -> (module, feature channels, stride)"
    )


STAGE_KINDS = ("openpose", "residual")


def _stage(cfg: Mapping[str, Any], in_ch: int, bn: bool, key: str) -> nn.Module:
    """One stage from its config; ``kind`` openpose (default: convs of one kernel size, CMU / stage 1)
    or residual (Lightweight OpenPose's refinement blocks); ``batch_norm`` overrides the model's."""
    kind = cfg.get("kind", "openpose")
    bn = bool(cfg.get("batch_norm", bn))
    if kind == "residual":
        stage: nn.Module = ResidualRefinementStage(
            in_ch, int(cfg["width"]), int(cfg["blocks"]), int(cfg["head_width"]), bn
        )
    elif kind == "openpose":
        stage = PredictionStage(
            in_ch,
            width=int(cfg["width"]),
            depth=int(cfg["depth"]),
            kernel=int(cfg["kernel"]),
            head_width=int(cfg["head_width"]),
            separate_branches=bool(cfg.get("separate_branches", False)),
            bn=bn,
        )
    else:
        raise ValueError(f"model.{key}.kind={kind!r}; valid: {list(STAGE_KINDS)}")
    init_weights(stage)
    _init_outputs(stage)
    return stage


def _init_outputs(stage: nn.Module) -> None:
    """Output convs start near the empty image's targets: ~0 everywhere except the background channel
    at 1, so the first steps learn people instead of unlearning random outputs."""
    for branch in (stage.heatmaps, stage.pafs):
        out = branch.head[-1]
        nn.init.normal_(out.weight, std=1e-3)
        nn.init.zeros_(out.bias)
    nn.init.ones_(stage.heatmaps.head[-1].bias[NUM_HEATMAPS - 1 :])


def build_model(model_cfg: Mapping[str, Any]) -> PoseNet:
    """Build a :class:`PoseNet` from a ``conf/model/*.yaml`` mapping.

    Keys: ``backbone`` (tiny | mobilenet | vgg19 | a dotted path, :func:`backbone_builder`) and its own keys, ``input_size``, ``initial_stage`` and
    ``refinement_stage`` (``kind`` openpose: width, depth, kernel, head_width, separate_branches; ``kind``
    residual: width, blocks, head_width; either: batch_norm), ``num_refinement_stages``, ``batch_norm``
    (the stages' default).

    Raises:
        ValueError: unknown backbone, or a stride that does not match the backbone.
        FileNotFoundError: pretrained VGG19 requested but its weights file is missing.
    """
    cfg = dict(model_cfg)
    kind = cfg.get("backbone")
    backbone, feature_ch, stride = backbone_builder(kind, cfg.get("name"))(cfg)
    if int(cfg.get("stride", stride)) != stride:
        raise ValueError(f"model.stride={cfg['stride']} but backbone {kind!r} has stride {stride}")
    bn = bool(cfg.get("batch_norm", True))
    maps_ch = NUM_HEATMAPS + NUM_PAFS
    stages = [_stage(cfg["initial_stage"], feature_ch, bn, "initial_stage")]
    stages += [
        _stage(cfg["refinement_stage"], feature_ch + maps_ch, bn, "refinement_stage")
        for _ in range(int(cfg.get("num_refinement_stages", 0)))
    ]
    return PoseNet(backbone, feature_ch, stages, stride, int(cfg["input_size"]))
