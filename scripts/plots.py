"""The bench's picture, drawn with matplotlib (installed by make setup) so that it reads when
projected: c10m's ramp beside the floor's (connections against seconds since the first connect),
and memory against time. Without matplotlib the bench falls back to its own plain SVG."""

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker
except ImportError:  # make setup installs it; the caller falls back
    plt = None


def _c10m_ramp(rows):
    """(seconds since the first connect, connections the server holds) from the bench's rows."""
    first = next((r["t_s"] for r in rows if r["client_established"] > 0), None)
    if first is None:
        return [], []
    t0 = first - 1.0  # rows are one second apart: the first connect came within the second before
    pts = [(0.0, 0)] + [(r["t_s"] - t0, r["server_connections"] or r["client_established"])
                        for r in rows if r["t_s"] >= first]
    return [p[0] for p in pts], [p[1] for p in pts]


def bench_plot(summary, rows, base):
    """Writes base.png and base.svg; False when matplotlib is missing."""
    if plt is None or not rows:
        return False
    n = summary.get("connections") or max(r["client_established"] for r in rows)
    fig, (ramp, mem) = plt.subplots(1, 2, figsize=(13, 5), dpi=110)
    t, c = _c10m_ramp(rows)
    ramp.plot(t, [v / 1e6 for v in c], color="#1f77b4", lw=2.5, label=f"c10m-server ({summary.get('ramp_s')} s)")
    floor = summary.get("floor") or {}
    for key, style, when in (("ramp_series_before", "--", "before"), ("ramp_series_after", ":", "after")):
        s = floor.get(key)
        if s:
            ramp.plot([p[0] for p in s], [p[1] / 1e6 for p in s], color="#7f7f7f", lw=2, ls=style,
                      label=f"C floor, {when} ({floor.get('ramp_s_' + when)} s)")
    ends = [x for x in (summary.get("ramp_s"), floor.get("ramp_s_before"), floor.get("ramp_s_after")) if x]
    if ends:
        ramp.set_xlim(0, max(max(ends) * 1.25, 2.0))
    ramp.set_title(f"Ramp to {n:,} connections: c10m beside the C floor")
    ramp.set_xlabel("seconds since the first connect")
    ramp.set_ylabel("connections held (millions)")
    ramp.grid(alpha=0.3)
    ramp.legend(loc="lower right")
    ts = [r["t_s"] for r in rows]
    mem.plot(ts, [r["kernel_slab_bytes"] / 2**30 for r in rows], color="#d62728", lw=2.5, label="kernel slab")
    mem.plot(ts, [(r["client_rss_bytes"] + (r["server_rss_bytes"] or 0)) / 2**30 for r in rows],
             color="#2ca02c", lw=2.5, label="user RSS, both programs")
    mem.set_title("Memory during the c10m run")
    mem.set_xlabel("seconds since the bench started c10m")
    mem.set_ylabel("GiB")
    mem.grid(alpha=0.3)
    mem.legend(loc="upper left")
    fig.suptitle(f"{summary.get('command', 'make bench')} on {summary.get('machine', 'this machine')}",
                 fontsize=10)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(f"{base}.{ext}")
    plt.close(fig)
    return True


def _number(v, _pos=None):
    """A tick label: whole numbers with thousands separators, others as short as they go."""
    return f"{int(v):,}" if v == int(v) else f"{v:g}"


def curves_plot(curves, title, machine, path):
    """A lab's curves (framework.Lab.curve), one panel each, as one PNG; False without
    matplotlib. A curve may ask for a log y axis (`logy`), vertical marks (`vmarks`) and where its
    legend goes (`legend`); records written before those existed draw as they did."""
    if plt is None or not curves:
        return False
    fig, axes = plt.subplots(1, len(curves), figsize=(7 * len(curves), 5), dpi=110, squeeze=False)
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf",
              "#000000"]
    mark_styles = [("#7f7f7f", "--"), ("#000000", ":"), ("#bcbd22", "-.")]
    for ax, c in zip(axes[0], curves):
        for i, s in enumerate(c["series"]):
            ax.plot(s["x"], s["y"], lw=2.5, color=colors[i % len(colors)], label=s["label"])
        marks = [("y", m) for m in c["marks"]] + [("x", m) for m in c.get("vmarks", [])]
        for i, (axis, m) in enumerate(marks):
            color, ls = mark_styles[i % len(mark_styles)]
            line = ax.axhline if axis == "y" else ax.axvline
            line(m[axis], color=color, ls=ls, lw=1.8, label=m["label"], zorder=3)
        if c.get("logy"):
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 3, 5)))
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        for axis in ([ax.xaxis] if c.get("logy") else [ax.xaxis, ax.yaxis]):
            axis.set_major_formatter(ticker.FuncFormatter(_number))
        ax.set_title(c["title"])
        ax.set_xlabel(c["xlabel"])
        ax.set_ylabel(c["ylabel"])
        ax.grid(alpha=0.3)
        ax.legend(loc=c.get("legend", "lower right"))
    fig.suptitle(f"{title}\n{machine}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def echo_plot(result, path):
    """make bench-echo's picture: round-trip p50 and p99 against the offered rate (top), and CPU
    per message, the server's own and the whole machine's (bottom), c10m-server beside the floor's
    echo server, one column per number of connections."""
    if plt is None or not result["sizes"]:
        return False
    sizes = result["sizes"]
    fig, axes = plt.subplots(2, len(sizes), figsize=(6 * len(sizes), 9), dpi=110, squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2]})
    for col, size in enumerate(sizes):
        top, bottom = axes[0][col], axes[1][col]
        for kind, color in (("c10m", "#1f77b4"), ("floor", "#7f7f7f")):
            steps = size[kind]["steps"]
            x = [s["offered_per_s"] for s in steps]
            label = "c10m-server" if kind == "c10m" else "C floor (echo.c)"
            top.plot(x, [(s["rtt_p99_us"] or 0) / 1000 for s in steps], color=color, lw=2.5, marker="o",
                     label=f"{label}, p99")
            top.plot(x, [(s["rtt_p50_us"] or 0) / 1000 for s in steps], color=color, lw=1.5, ls="--",
                     label=f"{label}, p50")
            bottom.plot(x, [s["server_user_us_per_msg"] + s["server_system_us_per_msg"] for s in steps],
                        color=color, lw=2.5, marker="o", label=f"{label}: its own CPU")
            if all("machine_us_per_msg" in s for s in steps):
                bottom.plot(x, [s["machine_us_per_msg"] for s in steps], color=color, lw=1.5, ls="--",
                            label=f"{label} run: whole machine")
        top.axhline(10, color="#d62728", lw=1, ls=":")
        top.axhline(1, color="#ff7f0e", lw=1, ls=":")
        top.set_yscale("log")
        top.set_ylabel("round trip (ms)")
        top.set_title(f"{size['connections']:,} connections ({size['c10m']['engine']} client)")
        bottom.set_ylim(bottom=0)
        bottom.set_ylabel("CPU per echoed message (us)")
        offered = sorted({s["offered_per_s"] for kind in ("c10m", "floor") for s in size[kind]["steps"]})
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.set_xticks(offered)
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(_number))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
            ax.tick_params(axis="x", labelrotation=45)
            ax.set_xlabel("pings offered per second")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    rounds = result.get("rounds", 1)
    fig.suptitle(f"{result['command']}: latency and CPU against offered rate, median of {rounds} round(s)\n"
                 f"{result['machine']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
