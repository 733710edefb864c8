import numpy as np

from keras_enlca.evaluation.comparison_figure import comparison_figure
from keras_enlca.visualization.panel_grid import GAP
from keras_enlca.visualization.panel_grid import LABEL_HEIGHT


def test_four_panels_of_the_same_crop_enlarged_alike(rng):
    lr = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    hr = np.repeat(np.repeat(lr, 3, 0), 3, 1)
    bicubic = np.clip(hr.astype(int) + 3, 0, 255).astype(np.uint8)
    sr = hr.copy()
    scores = {
        "psnr": 31.234,
        "ssim": 0.91234,
        "bicubic_psnr": 28.5,
        "bicubic_ssim": 0.8,
    }
    figure, crop = comparison_figure(
        lr, bicubic, sr, hr, 3, crop=(12, 6, 32, 32), name="im0", scores=scores
    )
    assert crop == (12, 6, 32, 32)
    factor = 8  # 32 px enlarged to the 256 px panel minimum
    assert figure.shape == (256 + LABEL_HEIGHT + 2 * GAP, 4 * 256 + 5 * GAP, 3)
    top = GAP + LABEL_HEIGHT
    panels = [
        figure[top : top + 256, GAP + i * (256 + GAP) :][:, :256] for i in range(4)
    ]
    nearest = np.repeat(np.repeat(lr, 3, 0), 3, 1)
    for panel, source in zip(panels, (nearest, bicubic, sr, hr), strict=True):
        expected = np.repeat(np.repeat(source[6:38, 12:44], factor, 0), factor, 1)
        np.testing.assert_array_equal(panel, expected)
