"""Tests for ``dfc analyze`` (dfc.tools.analyze): the paper's Table I statistics,
entropy, luma and the plots, on small hand-made arrays whose answers are worked
out by hand in the comments."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from dfc.tools import analyze
from dfc.tools.analyze import (
    CATEGORIES,
    entropy,
    feature_matrix,
    luma_bt601,
    most_frequent,
    similarity_counts,
)

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "data" / "corpus"


def counts(**nonzero: int) -> dict[str, int]:
    return {k: nonzero.get(k, 0) for k in CATEGORIES}


# --------------------------------------------------------------------------
# Table I on hand-made arrays

# One tile, frequent values {0}, T = 2 (similar means |x - k| <= 1).
GRID = np.array([
    [0, 50, 90, 200],
    [51, 120, 91, 130],
    [119, 10, 11, 92],
])
# Worked out value by value, testing m, l, t, tl, bl, tr in that order
# ("out" = outside the tile, never similar):
#   (0,0)=0    m: |0-0| = 0                                            -> m
#   (0,1)=50   m no; l=0 no; t, tl out; bl=(1,0)=51: |50-51| = 1          -> bl
#   (0,2)=90   l=50, bl=120 no; t, tl, tr out                            -> none
#   (0,3)=200  l=90, bl=91 no; t, tl, tr out                             -> none
#   (1,0)=51   l out; t=0 no; tl, bl out; tr=(0,1)=50                    -> tr
#   (1,1)=120  l=51, t=50, tl=0 no; bl=(2,0)=119                         -> bl
#   (1,2)=91   l=120 no; t=90                                            -> t
#   (1,3)=130  l=91, t=200, tl=90, bl=11 no; tr out                      -> none
#   (2,0)=119  l out; t=51 no; tl, bl out; tr=(1,1)=120                  -> tr
#   (2,1)=10   l=119, t=120, tl=51 no; bl out; tr=91 no (m: |10-0| = 10) -> none
#   (2,2)=11   l=10                                                      -> l
#   (2,3)=92   l=11, t=130 no; tl=(1,2)=91                               -> tl
GRID_COUNTS = counts(m=1, l=1, t=1, tl=1, bl=2, tr=2, none=4)


def test_table1_every_category_worked_by_hand() -> None:
    assert similarity_counts(GRID, 2, frequent=[0]) == GRID_COUNTS
    # the same tile given as a (1, H, W) tensor
    assert similarity_counts(GRID[None], 2, frequent=[0]) == GRID_COUNTS


def test_table1_order_of_testing() -> None:
    # [[0, 50], [50, 50]], frequent {0}, T = 2:
    #   (0,0)=0 -> m; (0,1)=50: l=0 no, bl=(1,0)=50 -> bl;
    #   (1,0)=50: t=0 no, tr=(0,1)=50 -> tr;
    #   (1,1)=50: l=50 and t=50 are both similar; l is tested first -> l
    grid = np.array([[0, 50], [50, 50]])
    assert similarity_counts(grid, 2, frequent=[0]) == counts(m=1, l=1, bl=1, tr=1)
    # A value near a frequent value and its left neighbour counts as m only:
    # [[5, 5]] has most frequent values {5}, both values -> m.
    assert similarity_counts(np.array([[5, 5]]), 2) == counts(m=2)


def test_table1_neighbours_within_the_tile_only() -> None:
    # Two channels of 1 x 2: ch0 = [7, 100], ch1 = [101, 7], frequent {7}.
    # The SPEC §4.4 matrix puts them side by side: [[7, 100, 101, 7]], where
    # 101's left neighbour would be 100 (similar). Within its own tile 101 has
    # no left neighbour, so it is "none"; 100 (left 7) is "none"; the 7s are m.
    q = np.array([[[7, 100]], [[101, 7]]])
    assert feature_matrix(q).tolist() == [[7, 100, 101, 7]]
    assert similarity_counts(q, 2, frequent=[7]) == counts(m=2, none=2)
    # the matrix taken as one tile would have counted 101 as similar to its left
    assert similarity_counts(feature_matrix(q), 2, frequent=[7]) == counts(m=2, l=1, none=1)


def test_table1_threshold() -> None:
    # T = 1: similar means equal. GRID has no equal neighbours, and only the 0
    # equals the frequent value: 1 m, 11 none.
    assert similarity_counts(GRID, 1, frequent=[0]) == counts(m=1, none=11)
    # T = 0: nothing is similar to anything.
    assert similarity_counts(GRID, 0, frequent=[0]) == counts(none=12)
    # T = 3 (difference <= 2): nothing changes but (2,3)=92, whose left 11 and
    # top 130 are still far, and top-left 91 still similar -> tl; (1,2)=91 is now
    # similar to its top 90 (as before). So the counts are those of T = 2.
    assert similarity_counts(GRID, 3, frequent=[0]) == GRID_COUNTS
    # T = 12: (2,1)=10 and (2,2)=11 are now within 11 of the frequent 0 -> m;
    # (2,3)=92: l=11 no, t=130 no, tl=91 -> tl; (1,3)=130: l=91 no, t=200 no,
    # tl=90 no, bl=(2,2)=11 no -> none; (0,2)=90 / (0,3)=200 still none.
    assert similarity_counts(GRID, 12, frequent=[0]) == counts(m=3, l=0, t=1, tl=1, bl=2, tr=2, none=3)


def brute_force(q: np.ndarray, threshold: int) -> dict[str, int]:
    """Table I by plain loops over (c, y, x), for checking the vectorised code."""
    m = most_frequent(q)
    out = counts()
    offsets = [("l", 0, -1), ("t", -1, 0), ("tl", -1, -1), ("bl", 1, -1), ("tr", -1, 1)]
    c_n, h, w = q.shape
    for c in range(c_n):
        for y in range(h):
            for x in range(w):
                v = int(q[c, y, x])
                if any(abs(v - mi) < threshold for mi in m):
                    out["m"] += 1
                    continue
                for key, dy, dx in offsets:
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < h and 0 <= xx < w and abs(v - int(q[c, yy, xx])) < threshold:
                        out[key] += 1
                        break
                else:
                    out["none"] += 1
    return out


@pytest.mark.parametrize("threshold", [1, 2, 4])
def test_table1_matches_brute_force(threshold: int) -> None:
    rng = np.random.default_rng(threshold)
    q = np.minimum(rng.geometric(0.08, size=(5, 7, 6)), 255)
    assert similarity_counts(q, threshold) == brute_force(q, threshold)


def test_most_frequent_ranking() -> None:
    # counts: 1 x2, 3 x2, 2 x1 -> by count, ties to the smaller value
    assert most_frequent(np.array([3, 3, 1, 1, 2])) == [1, 3, 2]
    # 10 distinct values, value v appearing v + 1 times: the top 8 are 9 .. 2
    values = np.repeat(np.arange(10), np.arange(1, 11))
    assert most_frequent(values) == [9, 8, 7, 6, 5, 4, 3, 2]
    assert most_frequent(values, 1) == [9]


def test_feature_matrix_fill_is_most_frequent() -> None:
    # C = 3 is no power of two, f = 1: across = 2^(0 + 1) = 2, down = 2^0 = 1,
    # too few places -> down = ceil(3 / 2) = 2. One fill place (tile 3), filled
    # with the most frequent value 4 (three 4s against one 9 and two 1s).
    q = np.array([[[4, 4]], [[9, 4]], [[1, 1]]])
    assert feature_matrix(q).tolist() == [[4, 4, 9, 4], [1, 1, 4, 4]]


# --------------------------------------------------------------------------
# entropy and luma


def test_entropy_by_hand() -> None:
    assert entropy(np.array([0, 0, 1, 1])) == pytest.approx(1.0)  # two values, 1/2 each
    assert entropy(np.array([0, 1, 2, 3])) == pytest.approx(2.0)  # four values, 1/4 each
    assert entropy(np.array([5, 5, 5])) == 0.0  # one value
    # 3/4 and 1/4: -(0.75 log2 0.75 + 0.25 log2 0.25) = 0.311278 + 0.5
    assert entropy(np.array([0, 0, 0, 1])) == pytest.approx(0.8112781244591328)
    assert math.copysign(1.0, entropy(np.array([7]))) == 1.0  # not -0.0


def test_luma_bt601() -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    # 0.299 * 255 = 76.245 -> 76; 0.587 * 255 = 149.685 -> 150; 0.114 * 255 = 29.07 -> 29
    assert luma_bt601(rgb).tolist() == [[76, 150, 29, 255, 0]]
    grey = np.array([[3, 200]], dtype=np.uint8)
    assert luma_bt601(grey).tolist() == [[3, 200]]


def test_analyze_tensor_quantizes_first() -> None:
    # min 0, max 1 at 8 bits: 0 -> 0, 1 -> 255, 0.5 -> floor(127.5 + 0.5) = 128
    x = np.array([[[0.0, 1.0, 0.5, 0.5]]], dtype=np.float32)
    a = analyze.analyze_tensor("t", x, 8, 2)
    assert a.values.tolist() == [[[0, 255, 128, 128]]]
    assert a.frequent == [128, 0, 255]
    assert a.entropy == pytest.approx(1.5)  # 1/2, 1/4, 1/4
    # all three values are among the 8 most frequent -> 100 % AD_m
    assert a.percent["m"] == 100.0


# --------------------------------------------------------------------------
# the command


def test_cli_table_and_json(small_real_tensor: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t1.json"
    assert analyze.main([str(small_real_tensor), "--no-image", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Table I" in text and "deep16" in text and "AD_tl" in text
    report = json.loads(out.read_text())
    (row,) = report["rows"]
    assert row["shape"] == [16, 12, 12] and row["group"] == "ppocrv4_det deep"
    assert sum(row["counts"].values()) == 16 * 12 * 12
    assert sum(row["percent"].values()) == pytest.approx(100.0)
    assert row["activation"] == "hardswish"
    assert "same tile" in report["neighbours"]


def test_cli_image_row(small_real_tensor: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = pytest.importorskip("PIL.Image", reason="Pillow not installed")
    png = tmp_path / "photo.png"
    rgb = np.zeros((6, 5, 3), dtype=np.uint8)
    rgb[:, :, 0] = 255  # all red: luma 76 everywhere
    image.fromarray(rgb).save(png)
    assert analyze.main([str(small_real_tensor), "--image", str(png)]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("photo (luma)"))
    # one value: entropy 0, all of it the most frequent value
    assert "0.000" in line and "100.00%" in line


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert analyze.main([str(tmp_path / "missing.npy"), "--no-image"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("dfc analyze: error:") and "no such file" in err and "\n" not in err
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((4, 4), dtype=np.float32))
    assert analyze.main([str(flat), "--no-image", "--json", str(tmp_path / "o.json")]) == 1
    assert "(C, H, W)" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_cli_plots(small_real_tensor: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib not installed")
    plots = tmp_path / "plots"
    assert analyze.main([str(small_real_tensor), "--no-image", "--plots", str(plots), "--tile-images"]) == 0
    names = sorted(p.name for p in plots.iterdir())
    assert names == ["fig2-deep16.png", "fig2.png", "fig3.png"]  # no temporaries left
    for name in names:
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
