"""Draws the soak's CSV (tests/tests/soak) as one PNG: resident memory, open
descriptors and threads of each process, and the owner's outbox with the push
lag, over time; the warm-up the slopes leave out is shaded.

    plot.py SAMPLES.csv OUT.png [WARM_UP_S]
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PROCS = ["cloud", "owner", "invitee", "st_owner", "st_invitee"]
LABELS = {
    "cloud": "cloud serve",
    "owner": "owner companion",
    "invitee": "invitee companion",
    "st_owner": "owner Syncthing",
    "st_invitee": "invitee Syncthing",
}


def main() -> None:
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    with open(sys.argv[1], newline="") as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    if not rows:
        sys.exit(f"no samples in {sys.argv[1]}")
    t = [r["t_s"] / 60 for r in rows]
    warm_up = float(sys.argv[3]) / 60 if len(sys.argv) == 4 else max(60.0, rows[-1]["t_s"] / 10) / 60
    fig, axes = plt.subplots(4, 1, figsize=(10, 12), sharex=True)
    panels = [("rss_kib", "resident memory (MiB)", 1 / 1024), ("fds", "open descriptors", 1), ("threads", "threads", 1)]
    for ax, (field, title, scale) in zip(axes, panels):
        for p in PROCS:
            ax.plot(t, [r[f"{p}_{field}"] * scale for r in rows], label=LABELS[p])
        ax.set_ylabel(title)
        ax.set_ylim(bottom=0)
    ax = axes[3]
    ax.plot(t, [r["outbox_changes"] for r in rows], label="owner outbox (changes)")
    ax.plot(t, [r["lag_events"] for r in rows], label="push lag (events: cloud seq - invitee cursor)")
    ax.plot(t, [r["files"] for r in rows], label="files in the folder", linestyle=":")
    ax.set_ylabel("count")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("minutes since the workload started")
    for ax in axes:
        ax.axvspan(0, warm_up, color="0.9", zorder=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower right" if ax is not axes[3] else "center right", ncol=2)
    axes[0].set_title(f"Soak: {t[-1]:.0f} min, a sample every 10 s (shaded: warm-up, left out of the slopes)")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=80)


if __name__ == "__main__":
    main()
