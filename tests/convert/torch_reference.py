"""Independent PyTorch forwards of the reference networks, for the tests.

Written from the authors' code (EDSR-PyTorch `common.py`, ENLCA
`attention.py`/`ENLA.py`/`enlcn.py`, NLSN `attention.py`/`nlsn.py`, A2N
`aan.py`) with `torch.nn.functional` only, reading the weights straight from
a state_dict in the reference layout. They share nothing with the converter:
the structure is read from the key names here, separately.

Inputs and outputs are NCHW tensors in the network's own range (`rgb_range`
for the EDSR family, 0..255 for A2N). Everything runs in the dtype of the
input (the tests use float64 as ground truth).
"""

import re

import torch
import torch.nn.functional as F


def _w(sd, key, like):
    return sd[key].to(like.dtype)


def conv(sd, prefix, x, bias=True):
    weight = _w(sd, f"{prefix}.weight", x)
    b = _w(sd, f"{prefix}.bias", x) if bias and f"{prefix}.bias" in sd else None
    return F.conv2d(x, weight, b, padding=weight.shape[-1] // 2)


def mean_shift(sd, prefix, x):
    # common.MeanShift is a 1x1 conv whose weight and bias come from the
    # checkpoint.
    return conv(sd, prefix, x)


def res_block(sd, prefix, x, res_scale):
    res = conv(sd, f"{prefix}.body.0", x)
    res = F.relu(res)
    res = conv(sd, f"{prefix}.body.2", res)
    return res * res_scale + x


def upsampler(sd, x):
    # common.Upsampler: [conv(F -> r^2 F), PixelShuffle(r)] per stage; keys
    # tail.0.0, tail.0.2, ...
    index = 0
    n_feats = x.shape[1]
    while f"tail.0.{index}.weight" in sd:
        out_channels = sd[f"tail.0.{index}.weight"].shape[0]
        r = int(round((out_channels / n_feats) ** 0.5))
        x = F.pixel_shuffle(conv(sd, f"tail.0.{index}", x), r)
        index += 2
    return x


def enlca(sd, prefix, x, res_scale):
    """ENLCA (eval mode): attention.py ENLCA.forward + ENLA.forward."""
    q = conv(sd, f"{prefix}.conv_match1.0", x)
    k = conv(sd, f"{prefix}.conv_match2.0", x)
    v = conv(sd, f"{prefix}.conv_assembly.0", x)
    amplification = 6.0**0.5
    k = F.normalize(k, p=2, dim=1, eps=5e-5) * amplification
    q = F.normalize(q, p=2, dim=1, eps=5e-5) * amplification
    n, c, h, w = q.shape
    q = q.permute(0, 2, 3, 1).reshape(n, 1, h * w, c)
    k = k.permute(0, 2, 3, 1).reshape(n, 1, h * w, c)
    v = v.permute(0, 2, 3, 1).reshape(n, 1, h * w, -1)
    projection = _w(sd, f"{prefix}.attn_fn.projection_matrix", x)

    def softmax_kernel(data):
        ratio = projection.shape[0] ** -0.5
        data_dash = torch.einsum("...id,jd->...ij", data, projection)
        diag = (data**2).sum(dim=-1, keepdim=True) / 2.0
        return ratio * (torch.exp(data_dash - diag) + 1e-4)

    q, k = softmax_kernel(q), softmax_kernel(k)
    k_sum = k.sum(dim=-2)
    d_inv = 1.0 / torch.einsum("...nd,...d->...n", q, k_sum)
    context = torch.einsum("...nd,...ne->...de", k, v)
    out = torch.einsum("...de,...nd,...n->...ne", context, q, d_inv).squeeze(1)
    out = out.permute(0, 2, 1).reshape(n, -1, h, w)
    return out * res_scale + x


def nlsa(sd, prefix, x, rotations, res_scale, chunk_size=144, n_hashes=4):
    """NonLocalSparseAttention.forward with given random rotations.

    `rotations` is the `[C, n_hashes, max_buckets // 2]` tensor of which the
    reference's fresh `torch.randn((1, C, n_hashes, hb // 2))` is replaced by
    the `[:, :, :hb // 2]` slice. The sorts are stable (the reference uses the
    default sort; the two orders only differ for ties inside a bucket).
    """
    n, _, h, w = x.shape
    x_embed = (
        conv(sd, f"{prefix}.conv_match.0", x).reshape(n, -1, h * w).permute(0, 2, 1)
    )
    y_embed = (
        conv(sd, f"{prefix}.conv_assembly.0", x).reshape(n, -1, h * w).permute(0, 2, 1)
    )
    length, c = x_embed.shape[-2:]
    cy = y_embed.shape[-1]

    hash_buckets = min(length // chunk_size + (length // chunk_size) % 2, 128)
    r = rotations[:, :, : hash_buckets // 2].to(x.dtype)
    rotated = torch.einsum("btf,fhi->bhti", x_embed, r)
    rotated = torch.cat([rotated, -rotated], dim=-1)
    codes = torch.argmax(rotated, dim=-1)
    offsets = (torch.arange(n_hashes) * hash_buckets).reshape(1, -1, 1)
    codes = (codes + offsets).reshape(n, -1)

    _, indices = codes.sort(dim=-1, stable=True)
    _, undo_sort = indices.sort(dim=-1, stable=True)
    mod_indices = indices % length

    def gather(t, idx):
        return torch.gather(t, 1, idx.unsqueeze(-1).expand(-1, -1, t.shape[-1]))

    x_sorted = gather(x_embed, mod_indices)
    y_sorted = gather(y_embed, mod_indices)
    padding = chunk_size - length % chunk_size if length % chunk_size else 0
    xb = x_sorted.reshape(n, n_hashes, -1, c)
    yb = y_sorted.reshape(n, n_hashes, -1, cy)
    if padding:
        xb = torch.cat([xb, xb[:, :, -padding:, :]], dim=2)
        yb = torch.cat([yb, yb[:, :, -padding:, :]], dim=2)
    xb = xb.reshape(n, n_hashes, -1, chunk_size, c)
    yb = yb.reshape(n, n_hashes, -1, chunk_size, cy)
    x_match = F.normalize(xb, p=2, dim=-1, eps=5e-5)

    def adjacent(t):
        back = torch.cat([t[:, :, -1:], t[:, :, :-1]], dim=2)
        forward = torch.cat([t[:, :, 1:], t[:, :, :1]], dim=2)
        return torch.cat([t, back, forward], dim=3)

    x_match = adjacent(x_match)
    yb = adjacent(yb)
    raw = torch.einsum("bhkie,bhkje->bhkij", xb, x_match)
    lse = torch.logsumexp(raw, dim=-1, keepdim=True)
    score = torch.exp(raw - lse)
    lse = lse.reshape(n, n_hashes, -1)
    ret = torch.einsum("bukij,bukje->bukie", score, yb).reshape(n, n_hashes, -1, cy)
    if padding:
        ret = ret[:, :, :-padding]
        lse = lse[:, :, :-padding]
    ret = gather(ret.reshape(n, -1, cy), undo_sort)
    lse = lse.reshape(n, -1).gather(1, undo_sort)
    ret = ret.reshape(n, n_hashes, length, cy)
    probs = F.softmax(lse.reshape(n, n_hashes, length, 1), dim=1)
    ret = (ret * probs).sum(dim=1)
    return ret.permute(0, 2, 1).reshape(n, -1, h, w) * res_scale + x


def edsr_family_forward(sd, x, res_scale, rotations=None):
    """EDSR / ENLCN / NLSN forward from a reference-layout state_dict.

    `rotations`: dict of body index -> NLSA rotations (NLSN only).
    """
    x = mean_shift(sd, "sub_mean", x)
    x = conv(sd, "head.0", x)
    indices = sorted(
        {int(m.group(1)) for m in (re.match(r"body\.(\d+)\.", k) for k in sd) if m}
    )
    res = x
    for i in indices:
        p = f"body.{i}"
        if f"{p}.body.0.weight" in sd:
            res = res_block(sd, p, res, res_scale)
        elif f"{p}.conv_match1.0.weight" in sd:
            res = enlca(sd, p, res, res_scale)
        elif f"{p}.conv_match.0.weight" in sd:
            res = nlsa(sd, p, res, rotations[i], res_scale)
        else:
            res = conv(sd, p, res)
    res = res + x
    x = upsampler(sd, res)
    x = conv(sd, "tail.1", x)
    return mean_shift(sd, "add_mean", x)


def aab(sd, prefix, x, temperature=30.0):
    """A2N attention-in-attention block (aan.py AAB.forward)."""
    residual = x
    n, c = x.shape[:2]
    x = F.leaky_relu(conv(sd, f"{prefix}.conv_first", x, bias=False), 0.2)
    y = F.adaptive_avg_pool2d(x, 1).reshape(n, c)
    y = F.linear(y, _w(sd, f"{prefix}.ADM.0.weight", x))
    y = F.relu(y)
    y = F.linear(y, _w(sd, f"{prefix}.ADM.2.weight", x))
    ax = F.softmax(y / temperature, dim=1)
    att = F.leaky_relu(conv(sd, f"{prefix}.attention.k1", x, bias=False), 0.2)
    att = torch.sigmoid(conv(sd, f"{prefix}.attention.k2", att))
    att = conv(sd, f"{prefix}.attention.k3", x, bias=False) * att
    att = conv(sd, f"{prefix}.attention.k4", att, bias=False)
    non_att = conv(sd, f"{prefix}.non_attention", x, bias=False)
    x = att * ax[:, 0].view(n, 1, 1, 1) + non_att * ax[:, 1].view(n, 1, 1, 1)
    x = F.leaky_relu(x, 0.2)
    return conv(sd, f"{prefix}.conv_last", x, bias=False) + residual


def pixel_attention(sd, prefix, x):
    return x * torch.sigmoid(conv(sd, f"{prefix}.conv", x))


def a2n_forward(sd, x, scale):
    """A2N / A2N-M forward (aan.py AAN.forward); input range 0..255."""
    fea = conv(sd, "conv_first", x)
    n_blocks = len(
        {m.group(1) for m in (re.match(r"AAB_trunk\.(\d+)\.", k) for k in sd) if m}
    )
    trunk = fea
    for i in range(n_blocks):
        trunk = aab(sd, f"AAB_trunk.{i}", trunk)
    fea = fea + conv(sd, "trunk_conv", trunk)
    stages = [scale] if scale in (2, 3) else [2, 2]
    for stage, factor in enumerate(stages, start=1):
        fea = F.interpolate(fea, scale_factor=factor, mode="nearest")
        fea = conv(sd, f"upconv{stage}", fea)
        fea = F.leaky_relu(pixel_attention(sd, f"att{stage}", fea), 0.2)
        fea = F.leaky_relu(conv(sd, f"HRconv{stage}", fea), 0.2)
    out = conv(sd, "conv_last", fea)
    skip = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    return out + skip
