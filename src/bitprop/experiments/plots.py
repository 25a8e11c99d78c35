"""The harnesses' figures (matplotlib, Agg backend: no display needed). Plotting only: every
number comes from rows the harnesses already computed."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..files import write_atomically  # noqa: E402

#: Times of 0.0 s cannot sit on a log axis; they are drawn at this floor.
TIME_FLOOR_S = 1e-5


def _save(figure, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        write_atomically(path, lambda handle: figure.savefig(handle, format="png", dpi=110,
                                                             bbox_inches="tight"), binary=True)
    finally:
        plt.close(figure)
    return path


def _bands(rows, key, column):
    """{series: (depths, median, low, high)} over the seeds of each (series, depth)."""
    grouped = {}
    for row in rows:
        grouped.setdefault(key(row), {}).setdefault(row["depth"], []).append(row[column])
    bands = {}
    for series, by_depth in grouped.items():
        depths = sorted(by_depth)
        values = [np.asarray(by_depth[d], float) for d in depths]
        bands[series] = (np.array(depths), np.array([np.median(v) for v in values]),
                         np.array([v.min() for v in values]), np.array([v.max() for v in values]))
    return bands


def _series_colors(labels):
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {label: cycle[i % len(cycle)] for i, label in enumerate(labels)}


def growth_bits(rows, stops, labels, key, path, title, max_bits=None):
    """Max bit length vs depth (log y), one panel per quantity, one line per series: the
    median over seeds, the band spans min..max over seeds; x marks where a series stopped."""
    colors = _series_colors(labels)
    panels = (("value_bits_max", "forward values z, f"), ("adjoint_bits_max", "adjoints dL/dz"),
              ("grad_bits_max", "gradients dL/dθ"))
    figure, axes = plt.subplots(1, 3, figsize=(15, 5.4), sharex=True, layout="constrained")
    for axis, (column, what) in zip(axes, panels):
        _band_panel(axis, _bands(rows, key, column), labels, colors, what,
                    "max bit length (bits, log scale)")
        _mark_stops(axis, stops, colors, rows, key, column, max_bits)
    _legend_below(figure, axes)
    figure.suptitle(title + "\nlines: median over seeds, shaded: min..max over seeds")
    return _save(figure, path)


def _band_panel(axis, bands, labels, colors, title, ylabel):
    """One line per series (median over seeds) with its min..max band, on a log y axis."""
    for label in labels:
        if label in bands:
            depths, median, low, high = bands[label]
            axis.plot(depths, median, marker="o", markersize=3, color=colors[label], label=label)
            axis.fill_between(depths, low, high, color=colors[label], alpha=0.2, linewidth=0)
    axis.set_yscale("log")
    axis.set_xlabel("depth (hidden layers)")
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.3)


def _legend_below(figure, axes):
    """One legend for all panels, under them, so that it hides no line."""
    entries = {}
    for axis in axes:
        for handle, name in zip(*axis.get_legend_handles_labels()):
            entries.setdefault(name, handle)
    figure.legend(entries.values(), entries.keys(), loc="outside lower center",
                  ncol=min(len(entries), 6), fontsize=8)


def _mark_stops(axis, stops, colors, rows, key, column, max_bits):
    """An x at each stop: at max_bits for a bit-limit stop, else at the series' last value."""
    labelled = False
    for stop in stops:
        label = key({"activation": stop.activation, "width": stop.width})
        if label not in colors:
            continue
        if stop.reason == "max_bits" and max_bits:
            height = max_bits
        else:
            done = [r[column] for r in rows if key(r) == label and r["seed"] == stop.seed]
            if not done:
                continue
            height = done[-1]
        axis.plot([stop.depth], [height], marker="x", markersize=9, mew=2, linestyle="none",
                  color=colors[label],
                  label=None if labelled else "series stopped (--max-bits / --time-budget)")
        labelled = True


def growth_time(rows, labels, key, path, title):
    """Forward and backward seconds vs depth (log y), median over seeds with min..max band."""
    colors = _series_colors(labels)
    figure, axes = plt.subplots(1, 2, figsize=(11, 5.2), sharex=True, sharey=True,
                               layout="constrained")
    for axis, (column, what) in zip(axes, (("forward_s", "forward pass"),
                                           ("backward_s", "backward pass"))):
        floored = [dict(r, **{column: max(r[column], TIME_FLOOR_S)}) for r in rows]
        _band_panel(axis, _bands(floored, key, column), labels, colors, what,
                    "wall time (seconds, log scale)")
    _legend_below(figure, axes)
    figure.suptitle(title + f"\nmedian over seeds, shaded min..max; times below "
                            f"{TIME_FLOOR_S:g} s drawn at {TIME_FLOOR_S:g} s")
    return _save(figure, path)


def growth_magnitude(rows, labels, key, path, title):
    """Certified max log2 |value| vs depth (log y) and the ball forward seconds, median over
    seeds with min..max band."""
    colors = _series_colors(labels)
    figure, axes = plt.subplots(1, 2, figsize=(11, 5.2), sharex=True, layout="constrained")
    _band_panel(axes[0], _bands(rows, key, "log2_magnitude_max"), labels, colors,
                "max over vertices of log2 |f| (upper bound)", "log2 |value| (log scale)")
    floored = [dict(r, forward_s=max(r["forward_s"], TIME_FLOOR_S)) for r in rows]
    _band_panel(axes[1], _bands(floored, key, "forward_s"), labels, colors,
                "ball forward passes", "wall time (seconds, log scale)")
    _legend_below(figure, axes)
    figure.suptitle(title + "\nmedian over seeds, shaded min..max")
    return _save(figure, path)


def figure1(rows, path, title):
    """log10 ||dL/dW_1||_2 vs depth: exact (solid) and float64 (dashed) per activation, the
    float64 overflow marked, certified intervals (error bars) past exact reach; linear y
    (left, clipped to the exact and float64 values) and symlog y (right, everything)."""
    activations = list(dict.fromkeys(r["activation"] for r in rows))
    colors = _series_colors(activations)
    figure, axes = plt.subplots(1, 2, figsize=(13, 5.8), layout="constrained")
    for axis, scale in zip(axes, ("linear", "symlog")):
        for activation in activations:
            mine = [r for r in rows if r["activation"] == activation]
            _figure1_series(axis, mine, activation, colors[activation])
        if scale == "symlog":
            axis.set_yscale("symlog", linthresh=10)
            low = min((r["log10_norm_exact"] for r in rows if r.get("log10_norm_exact")
                       is not None and np.isfinite(r["log10_norm_exact"])), default=0.0)
            high = max((float(r["log10_norm_upper"]) for r in rows if r.get("certified")),
                       default=None)
            axis.set_ylim(bottom=min(low, 0.0) - 1,
                          top=10 * high if high is not None and 10 < high < np.inf else None)
        else:
            _clip_to_uncertified(axis, rows)
        axis.set_xlabel("depth (hidden layers)")
        axis.set_ylabel("log10 ||dL/dW_1||_2" + (" (symlog axis)" if scale == "symlog" else ""))
        axis.grid(True, which="both", alpha=0.3)
    _legend_below(figure, axes[1:])
    certified = any(r.get("certified") for r in rows)
    axes[0].set_title("linear axis" + (" (exact and float64 range)" if certified else ""))
    axes[1].set_title("symlog axis (linear within ±10)")
    figure.suptitle(title)
    return _save(figure, path)


def _clip_to_uncertified(axis, rows):
    """The linear panel's y range: the exact and float64 values (certified values of deep
    z^2 networks would flatten them all)."""
    values = [r[column] for r in rows for column in ("log10_norm_exact", "log10_norm_float64")
              if r.get(column) is not None and np.isfinite(r[column])]
    if values and any(r.get("certified") for r in rows):
        low, high = min(values), max(values)
        margin = 0.05 * (high - low) + 1
        axis.set_ylim(low - margin, high + margin)


def _where_every_seed(rows, good):
    """The rows at the depths where ``good(row)`` holds for every seed (a median over fewer
    seeds would jump where one seed drops out)."""
    bad = {r["depth"] for r in rows if not good(r)}
    return [r for r in rows if r["depth"] not in bad]


def _figure1_series(axis, rows, activation, color):
    exact = _bands(_where_every_seed(rows, lambda r: r["exact_status"] == "ok"),
                   lambda r: 0, "log10_norm_exact").get(0)
    if exact is not None:
        depths, median, low, high = exact
        axis.plot(depths, median, color=color, marker="o", markersize=3,
                  label=f"{activation}: exact (bitprop)")
        axis.fill_between(depths, low, high, color=color, alpha=0.2, linewidth=0)
    _figure1_certified(axis, rows, activation, color)
    floats = _bands(_where_every_seed(rows, lambda r: r["float64_status"] == "finite"),
                    lambda r: 0, "log10_norm_float64").get(0)
    if floats is not None:
        depths, median, _, _ = floats
        axis.plot(depths, median, color=color, linestyle="--", marker="s", markersize=4,
                  markerfacecolor="none", label=f"{activation}: float64 (numpy)")
    overflow = sorted({r["depth"] for r in rows if r["float64_status"] in ("inf", "nan")})
    if overflow:
        axis.axvline(overflow[0], color=color, linestyle=":", linewidth=1.5,
                     label=f"{activation}: float64 inf/nan from depth {overflow[0]}")
    stopped = sorted({r["depth"] for r in rows if r["exact_status"] != "ok"})
    if stopped:
        axis.axvline(stopped[0], color=color, linestyle="-.", linewidth=1,
                     label=f"{activation}: exact stopped at depth {stopped[0]} (limit)")


def _known(row):
    """(lower, upper) floats of a row's log10 norm: the exact value twice, a certified
    interval, or None."""
    if row["exact_status"] == "ok":
        return row["log10_norm_exact"], row["log10_norm_exact"]
    if row.get("certified"):
        return float(row["log10_norm_lower"]), float(row["log10_norm_upper"])
    return None


def _figure1_certified(axis, rows, activation, color):
    """Past exact reach, at depths where every seed is exact or certified: the median over
    seeds of the lower bounds up to that of the upper bounds (an interval that holds the
    median of the exact values, the median being monotone), as error bars."""
    by_depth = {}
    for r in rows:
        by_depth.setdefault(r["depth"], []).append(r)
    depths, low, high = [], [], []
    for depth in sorted(by_depth):
        group = by_depth[depth]
        known = [_known(r) for r in group]
        if (all(r["exact_status"] == "ok" for r in group) or None in known
                or not np.isfinite(known).all()):
            continue
        depths.append(depth)
        low.append(float(np.median([k[0] for k in known])))
        high.append(float(np.median([k[1] for k in known])))
    if depths:
        middle = (np.array(low) + np.array(high)) / 2
        axis.errorbar(depths, middle, yerr=[middle - np.array(low), np.array(high) - middle],
                      color=color, marker="D", markersize=4, linestyle="none", capsize=3,
                      label=f"{activation}: certified (ball arithmetic)")


def pac(rows, path, title):
    """Samples needed vs precision k: simulation, the exact worst case, the paper's bound."""
    ks = [r["k"] for r in rows]
    figure, axis = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    axis.plot(ks, [r["samples_simulated"] for r in rows], marker="o", linestyle="none",
              label=f"simulated ({rows[0]['trials']} runs per k): least m with empirical "
                    "failure <= delta")
    axis.plot(ks, [r["samples_exact"] for r in rows], label="exact, random target")
    axis.plot(ks, [r["samples_worst_case"] for r in rows], marker="s", markersize=4,
              linestyle="--", label="exact, worst-case target of this learner")
    bounded = [r for r in rows if r["lower_bound"] is not None]
    axis.plot([r["k"] for r in bounded], [r["lower_bound"] for r in bounded], color="black",
              linewidth=2,
              label="Theorem D.4 lower bound (k - 1) ln(1/(2 delta))")
    axis.plot(ks, [r["samples_real_model"] for r in rows], color="gray", linestyle=":",
              label="exact real model (no rounding): 1 sample")
    axis.set_xlabel("precision k (bits)")
    axis.set_ylabel("samples m for error <= eps w.p. >= 1 - delta")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")
    axis.set_title(title)
    return _save(figure, path)


def fit_series(verdicts, path, title):
    """Bits vs depth (log y) for (Series, GrowthFit) pairs: every point, the median per
    depth, the verdict's law drawn through and past the data (two dashed rivals when the
    verdict is undetermined)."""
    labels = [series.name or "bits" for series, _ in verdicts]
    colors = _series_colors(labels)
    figure, axis = plt.subplots(figsize=(8.5, 5.4), layout="constrained")
    for (series, fit), label in zip(verdicts, labels):
        color = colors[label]
        axis.scatter(series.depths, series.bits, s=10, color=color, alpha=0.35)
        depths = np.unique(series.depths)
        medians = [np.median([b for d, b in zip(series.depths, series.bits) if d == depth])
                   for depth in depths]
        axis.plot(depths, medians, "o", color=color, markersize=4,
                  label=f"{label}: {fit.law}")
        span = np.geomspace(depths.min(), max(depths.max() * 1.5,
                                              1.2 * (fit.decisive_depth or 0)), 200)
        styles = ("--", ":") if fit.law == "undetermined" else ("-",)
        for (law, curve), style in zip(fit.curves, styles):
            with np.errstate(all="ignore"):
                predicted = np.asarray(curve.predict(span), float)
            shown = np.isfinite(predicted) & (predicted > 0)
            axis.plot(span[shown], predicted[shown], style, color=color, linewidth=1.2,
                      alpha=0.8, label=f"{label}: {law} law")
    axis.set_yscale("log")
    axis.set_xlabel("depth")
    axis.set_ylabel("bits (log scale)")
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.25)
    axis.legend(fontsize=8)
    return _save(figure, path)
